using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace LlmCpu.Host;

/// <summary>
/// One runspace of llmcpu's host with the LlmCpu module imported, for a script or an interactive session. The host's
/// own Modules folder (where the build puts LlmCpu) is added to PSModulePath for the whole process first, so
/// <c>Import-Module LlmCpu</c>, <c>Get-Module -ListAvailable</c> and new runspaces (<c>ForEach-Object -Parallel</c>,
/// <c>Start-ThreadJob</c>) find the module by name, as they would in pwsh with the module installed.
/// </summary>
public sealed class HostSession : IDisposable
{
    /// <summary>The folder beside llmcpu that holds the LlmCpu module (build/ModuleLayout.targets puts it there).</summary>
    public static string ModulesFolder { get; } = Path.Combine(AppContext.BaseDirectory, "Modules");

    public static string ModuleManifest { get; } = Path.Combine(ModulesFolder, "LlmCpu", "LlmCpu.psd1");

    private HostSession(HostUserInterface ui, LlmCpuHost host, Runspace runspace)
    {
        Ui = ui;
        Host = host;
        Runspace = runspace;
    }

    internal HostUserInterface Ui { get; }

    internal LlmCpuHost Host { get; }

    public Runspace Runspace { get; }

    /// <summary>Opens the runspace and imports LlmCpu; null after writing why to <paramref name="stderr"/>.</summary>
    /// <param name="hostText">Where text for the host goes (standard output, or standard error in JSON mode).</param>
    /// <param name="interactive">Whether the host may prompt: false makes a missing mandatory parameter an error.</param>
    public static HostSession? Open(TextWriter hostText, TextWriter stderr, bool interactive)
    {
        AddModulesFolderToModulePath();
        var ui = new HostUserInterface(hostText, stderr, interactive);
        var host = new LlmCpuHost(ui);
        var runspace = RunspaceFactory.CreateRunspace(host, InitialSessionState.CreateDefault2());
        runspace.Open();
        // Imported by path, not by name, so this host always runs the module built beside it even where another
        // LlmCpu is installed. Imported by a command rather than through InitialSessionState: only then are the
        // module's format and type files applied.
        using var import = PowerShell.Create();
        import.Runspace = runspace;
        import.AddCommand("Import-Module").AddParameter("Name", ModuleManifest).AddParameter("ErrorAction", "Stop");
        try
        {
            import.Invoke();
        }
        catch (RuntimeException ex)
        {
            stderr.WriteLine($"llmcpu: the LlmCpu module at '{ModuleManifest}' failed to load: {ex.Message}");
            runspace.Dispose();
            return null;
        }
        return new HostSession(ui, host, runspace);
    }

    /// <summary>Puts the host's Modules folder first in this process's PSModulePath (once).</summary>
    internal static void AddModulesFolderToModulePath()
    {
        string current = Environment.GetEnvironmentVariable("PSModulePath") ?? "";
        var entries = current.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        if (entries.Contains(ModulesFolder)) return;
        Environment.SetEnvironmentVariable("PSModulePath", string.Join(Path.PathSeparator, [ModulesFolder, .. entries]));
    }

    public void Dispose() => Runspace.Dispose();
}
