using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Text;

namespace LlmCpu.Host;

/// <summary>
/// Runs one script in a fresh runspace with the LlmCpu module imported. In text mode output objects go through
/// Out-Default, so they look as PowerShell renders them; in JSON mode each becomes one line of JSON as soon as it
/// is written. Errors, warnings, verbose messages and progress go to stderr.
/// </summary>
public sealed class ScriptRunner(TextWriter stdout, TextWriter stderr)
{
    public static string ModuleManifest { get; } = Path.Combine(AppContext.BaseDirectory, "Modules", "LlmCpu", "LlmCpu.psd1");

    private PowerShell? _running;

    /// <summary>Asks the running pipeline to stop (Ctrl+C); the cmdlets stop between two tokens.</summary>
    public void Stop() => _running?.BeginStop(null, null);

    public int Run(HostArguments arguments)
    {
        // In JSON mode standard output is one JSON object per line and nothing else: text for the host (Write-Host,
        // Invoke-Generation -Stream) goes to standard error there.
        var ui = new HostUserInterface(arguments.OutputFormat == OutputFormat.Json ? stderr : stdout, stderr);
        var host = new LlmCpuHost(ui);
        using var runspace = RunspaceFactory.CreateRunspace(host, InitialSessionState.CreateDefault2());
        runspace.Open();
        // Imported by a command rather than through InitialSessionState: only then are the module's format files applied.
        using (var import = PowerShell.Create())
        {
            import.Runspace = runspace;
            import.AddCommand("Import-Module").AddParameter("Name", ModuleManifest).AddParameter("ErrorAction", "Stop");
            try
            {
                import.Invoke();
            }
            catch (RuntimeException ex)
            {
                stderr.WriteLine($"llmcpu: the LlmCpu module at '{ModuleManifest}' failed to load: {ex.Message}");
                return 70;
            }
        }

        using var ps = PowerShell.Create();
        ps.Runspace = runspace;
        string script = arguments.Command == "-" ? Console.In.ReadToEnd() : arguments.Command ?? BuildFileInvocation(arguments.File!, arguments.FileArguments);
        ps.AddScript(script);
        var output = new PSDataCollection<PSObject>();
        if (arguments.OutputFormat == OutputFormat.Json)
        {
            output.DataAdded += (_, e) =>
            {
                ui.ClearProgress();
                stdout.WriteLine(JsonLines.Serialize(output[e.Index]));
                stdout.Flush();
            };
        }
        else
        {
            ps.AddCommand("Out-Default");
        }
        ps.Streams.Error.DataAdded += (_, e) => WriteError(ui, ps.Streams.Error[e.Index]);

        _running = ps;
        try
        {
            ps.Invoke<PSObject>(null, output);
        }
        catch (PipelineStoppedException)
        {
            ui.WriteErrorLine("Stopped.");
            return 130;
        }
        catch (ExitException ex)
        {
            return ExitCode(ex.Argument);
        }
        catch (RuntimeException ex)
        {
            if (ex.InnerException is ExitException exit) return ExitCode(exit.Argument);
            WriteError(ui, ex.ErrorRecord);
            return 1;
        }
        finally
        {
            _running = null;
            ui.ClearProgress();
        }

        if (ps.InvocationStateInfo.State == PSInvocationState.Stopped)
        {
            ui.WriteErrorLine("Stopped.");
            return 130;
        }
        if (host.ExitCode is { } requested) return requested;
        if (runspace.SessionStateProxy.GetVariable("LASTEXITCODE") is int code && code != 0) return code;
        return ps.HadErrors ? 1 : 0;
    }

    private static int ExitCode(object? argument) => argument is int code ? code : int.TryParse(argument?.ToString(), out int parsed) ? parsed : 0;

    /// <summary>Turns "-File script.ps1 a -Name b" into a call that binds arguments as pwsh -File does.</summary>
    public static string BuildFileInvocation(string file, IReadOnlyList<string> arguments)
    {
        var builder = new StringBuilder("& ").Append(Quote(Path.GetFullPath(file)));
        foreach (string argument in arguments)
        {
            builder.Append(' ');
            bool isParameterName = argument.Length > 1 && argument[0] == '-' && char.IsLetter(argument[1])
                && argument.Skip(1).All(c => char.IsLetterOrDigit(c) || c == '_');
            builder.Append(isParameterName ? argument : Quote(argument));
        }
        return builder.ToString();
    }

    private static string Quote(string value) => "'" + value.Replace("'", "''") + "'";

    /// <summary>An error as a person and a script both need it: the message, then the stable ErrorId and category.</summary>
    private static void WriteError(HostUserInterface ui, ErrorRecord record)
    {
        string? command = record.InvocationInfo?.MyCommand?.Name;
        ui.WriteErrorLine((string.IsNullOrEmpty(command) ? "" : command + ": ") + (record.ErrorDetails?.Message ?? record.Exception?.Message ?? record.ToString()));
        ui.WriteErrorLine($"    ErrorId: {record.FullyQualifiedErrorId}; Category: {record.CategoryInfo.Category}; Target: {record.TargetObject}");
    }
}
