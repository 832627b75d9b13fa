using System.Management.Automation;
using System.Reflection;

namespace LlmCpu.Host;

/// <summary>What llmcpu -Version prints: its own version, the LlmCpu module's and the PowerShell engine's.</summary>
public static class VersionText
{
    public static string Describe() =>
        $"{Informational(typeof(VersionText).Assembly)} (LlmCpu module {ModuleVersion()}, PowerShell {Informational(typeof(PSObject).Assembly)}, .NET {Environment.Version})";

    /// <summary>The assembly's informational version without the source-revision suffix.</summary>
    private static string Informational(Assembly assembly)
    {
        string? version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (version is null) return assembly.GetName().Version?.ToString() ?? "?";
        int cut = version.IndexOfAny(['+', ' ']);
        return cut < 0 ? version : version[..cut];
    }

    /// <summary>ModuleVersion from the manifest beside the host, read as text so that no runspace is needed.</summary>
    private static string ModuleVersion()
    {
        try
        {
            var match = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(HostSession.ModuleManifest), @"ModuleVersion\s*=\s*'([^']+)'");
            return match.Success ? match.Groups[1].Value : "?";
        }
        catch (IOException)
        {
            return "missing";
        }
    }
}
