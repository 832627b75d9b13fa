using System.Management.Automation;
using System.Management.Automation.Language;

namespace LlmCpu.Host;

/// <summary>
/// The interactive session llmcpu starts in a terminal when given no command: a prompt (the session's <c>prompt</c>
/// function, "PS /path> " by default), one line read at a time, more lines (">> ") while the input is incomplete (an
/// open brace or quote), each input run as a script whose objects go through Out-Default. <c>exit</c> or end of input
/// (Ctrl+D) ends it. Line editing is the terminal's own; PSReadLine is not part of the SDK.
/// </summary>
public sealed class Repl(HostSession session, ScriptRunner runner, TextReader input, TextWriter output)
{
    public int Run()
    {
        output.WriteLine($"llmcpu {VersionText.Describe()}; 'exit' or Ctrl+D ends the session, Get-Help about_LlmCpu explains the module.");
        int lastCode = 0;
        while (true)
        {
            string? script = ReadInput();
            if (script is null)
            {
                output.WriteLine();
                return lastCode;
            }
            if (script.Trim().Length == 0) continue;
            lastCode = runner.Run(script);
            if (runner.ExitRequested) return lastCode;
        }
    }

    /// <summary>One complete input: lines are added while the parser says the input is incomplete. Null at end of input.</summary>
    private string? ReadInput()
    {
        output.Write(Prompt());
        output.Flush();
        string? line = input.ReadLine();
        if (line is null) return null;
        string script = line;
        while (IsIncomplete(script))
        {
            output.Write(">> ");
            output.Flush();
            string? more = input.ReadLine();
            if (more is null || more.Length == 0) break; // an empty line ends the input, as in pwsh
            script += "\n" + more;
        }
        return script;
    }

    private static bool IsIncomplete(string script)
    {
        Parser.ParseInput(script, out _, out var errors);
        return errors.Any(e => e.IncompleteInput);
    }

    private string Prompt()
    {
        try
        {
            using var ps = PowerShell.Create();
            ps.Runspace = session.Runspace;
            var result = ps.AddCommand("prompt").Invoke();
            if (result.Count > 0) return string.Concat(result.Select(o => o?.ToString()));
        }
        catch (RuntimeException)
        {
            // A broken prompt function must not end the session.
        }
        return "PS> ";
    }
}
