using System.Management.Automation;
using System.Reflection;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// The module's own mapping from an exception to the ErrorId and category a cmdlet reports (ErrorMapper, internal to
/// the module assembly, reached by reflection): hostile-input tests check what a user would see, not a copy of the rules.
/// </summary>
public static class ModuleErrorMapping
{
    private static readonly Lazy<Type> Mapper = new(() =>
        Assembly.LoadFrom(Path.Combine(Path.GetDirectoryName(RepoPaths.ModuleManifest)!, "LlmCpu.Module.dll"))
            .GetType("LlmCpu.Module.Internal.ErrorMapper", throwOnError: true)!);

    /// <summary>The ErrorRecord Import-Model would write for <paramref name="exception"/> while loading <paramref name="path"/>.</summary>
    public static ErrorRecord ForLoad(Exception exception, string path) =>
        (ErrorRecord)Mapper.Value.GetMethod("ForLoad")!.Invoke(null, [exception, path])!;

    /// <summary>Whether the module reports <paramref name="exception"/> as a defect of LlmCpu (InternalError) rather than bad input.</summary>
    public static bool IsDefect(Exception exception) => (bool)Mapper.Value.GetMethod("IsDefect")!.Invoke(null, [exception])!;
}
