using System.Management.Automation;
using System.Text;

namespace LlmCpu.Host;

/// <summary>
/// Runs scripts in a <see cref="HostSession"/>. In text mode output objects go through Out-Default, so they look as
/// PowerShell renders them; in JSON mode each becomes one line of JSON as soon as it is written. Errors, warnings,
/// verbose messages and progress go to stderr.
/// </summary>
/// <param name="interrupts">What Ctrl+C stops; the caller connects it to the signal as early as it can.</param>
public sealed class ScriptRunner(HostSession session, TextWriter stdout, OutputFormat outputFormat, InterruptHandler interrupts)
{
    private const int StoppedExitCode = 130;

    /// <summary>Whether the script called <c>exit</c>; the session should end.</summary>
    public bool ExitRequested { get; private set; }

    /// <summary>Runs <paramref name="script"/> and returns the exit code it earns (see the usage text).</summary>
    public int Run(string script)
    {
        var ui = session.Ui;
        using var ps = PowerShell.Create();
        ps.Runspace = session.Runspace;
        ps.AddScript(script);
        var output = new PSDataCollection<PSObject>();
        if (outputFormat == OutputFormat.Json)
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

        if (!interrupts.Enter(ps)) return Stopped(ui);
        (int Code, bool Stopped) result;
        bool interrupted;
        try
        {
            result = Invoke(ps, output, ui);
        }
        finally
        {
            interrupted = interrupts.Leave(ps);
            ui.ClearProgress();
        }
        return result.Stopped || interrupted ? Stopped(ui) : result.Code;
    }

    private static int Stopped(HostUserInterface ui)
    {
        ui.WriteErrorLine("Stopped.");
        return StoppedExitCode;
    }

    private (int Code, bool Stopped) Invoke(PowerShell ps, PSDataCollection<PSObject> output, HostUserInterface ui)
    {
        try
        {
            ps.Invoke<PSObject>(null, output);
        }
        catch (PipelineStoppedException)
        {
            return (StoppedExitCode, true);
        }
        catch (ExitException ex)
        {
            ExitRequested = true;
            return (ExitCode(ex.Argument), false);
        }
        catch (RuntimeException ex)
        {
            if (ex.InnerException is ExitException exit)
            {
                ExitRequested = true;
                return (ExitCode(exit.Argument), false);
            }
            WriteError(ui, ex.ErrorRecord);
            return (1, false);
        }

        if (ps.InvocationStateInfo.State == PSInvocationState.Stopped) return (StoppedExitCode, true);
        if (session.Host.ExitCode is { } requested)
        {
            ExitRequested = true;
            return (requested, false);
        }
        if (session.Runspace.SessionStateProxy.GetVariable("LASTEXITCODE") is int code && code != 0) return (code, false);
        return (ps.HadErrors ? 1 : 0, false);
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
