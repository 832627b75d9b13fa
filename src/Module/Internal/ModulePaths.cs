namespace LlmCpu.Module.Internal;

internal static class ModulePaths
{
    /// <summary>The folder the module's assembly was loaded from.</summary>
    public static string ModuleRoot { get; } = Path.GetDirectoryName(typeof(ModulePaths).Assembly.Location)!;

    /// <summary>The small trained model that ships inside the module, loaded by Import-Model without a path.</summary>
    public static string BundledModel { get; } = Path.Combine(ModuleRoot, "models", "austen-llama");
}
