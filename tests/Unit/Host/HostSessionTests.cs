using System.Diagnostics;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Host;

/// <summary>
/// llmcpu as a PowerShell host: the full SDK's modules, its own module found by name, no prompts without a person at a
/// terminal, -Version, and the interactive session in a pseudo-terminal.
/// </summary>
public sealed class HostSessionTests
{
    [Fact]
    public void VersionNamesTheHostTheModuleAndPowerShell()
    {
        var (code, stdout, stderr) = HostProcess.Run("-Version");
        Assert.True(code == 0, stderr);
        string moduleVersion = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(RepoPaths.Root, "LlmCpu.psd1")),
            @"ModuleVersion\s*=\s*'([^']+)'").Groups[1].Value;
        Assert.Matches($@"^llmcpu {moduleVersion} \(LlmCpu module {moduleVersion}, PowerShell 7\.6\.\d+, \.NET 10\.", stdout);
    }

    [Fact]
    public void UtilityAndManagementCmdletsAreThere()
    {
        var (code, stdout, stderr) = HostProcess.Run("-Command",
            "1..5 | Select-Object -Last 2; Write-Host 'from Write-Host'; (Get-ChildItem -LiteralPath $PSHOME -Filter System.Management.Automation.dll).Name; " +
            "[pscustomobject]@{ a = 1 } | ConvertTo-Json -Compress");
        Assert.True(code == 0, stderr);
        Assert.Equal(["4", "5", "from Write-Host", "System.Management.Automation.dll", "{\"a\":1}"],
            stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()));
        // help pages through Get-Help and the pager function, which once failed for want of Select-Object.
        var (helpCode, help, helpErr) = HostProcess.Run("-Command", "help Import-Model");
        Assert.True(helpCode == 0, helpErr);
        Assert.Contains("Loads a language model from disk, ready for Invoke-Generation.", help);
    }

    [Fact]
    public void TheModuleIsFoundByNameInTheHostsModulesFolder()
    {
        var (code, stdout, stderr) = HostProcess.Run("-Command",
            "(Get-Module -ListAvailable LlmCpu).ModuleBase; Remove-Module LlmCpu; Import-Module LlmCpu; (Get-Module LlmCpu).ModuleBase");
        Assert.True(code == 0, stderr);
        string expected = Path.GetDirectoryName(RepoPaths.ModuleManifest)!;
        Assert.Equal([expected, expected], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()));
    }

    [Fact]
    public void ParallelRunspacesLoadTheModuleByNameAndShareOneModel()
    {
        var reference = FixtureReference.Load().Prompts[2];
        var (code, stdout, stderr) = HostProcess.Run("-Command",
            $"$m = Import-Model; 1..3 | ForEach-Object -Parallel {{ ($using:m | Invoke-Generation -Prompt '{reference.Text}' -Temperature 0 -MaxTokens 8).TokenIds -join ',' }} -ThrottleLimit 3");
        Assert.True(code == 0, stderr);
        string expected = string.Join(',', reference.Greedy.Take(8));
        Assert.Equal([expected, expected, expected], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()));
    }

    [Fact]
    public void AMissingMandatoryParameterIsAnErrorNotAPrompt()
    {
        // Standard input stays open and silent: a host that prompted would wait on it until the timeout.
        var (code, stdout, stderr) = HostProcess.Run(new Dictionary<string, string>(), ["-Command", "New-SyntheticModel; 'after'"],
            closeInput: false, timeoutMilliseconds: 60_000);
        Assert.Equal(1, code);
        Assert.Contains("ErrorId: MissingMandatoryParameter,LlmCpu.Module.Commands.NewSyntheticModelCommand", stderr);
        Assert.DoesNotContain("Shape:", stderr);
    }

    [Fact]
    public void ReadHostIsAnErrorWithoutAPersonAtATerminal()
    {
        var (code, _, stderr) = HostProcess.Run(new Dictionary<string, string>(), ["-Command", "Read-Host 'Your name'"],
            closeInput: false, timeoutMilliseconds: 60_000);
        Assert.Equal(1, code);
        Assert.Contains("is not interactive", stderr);
    }

    [Fact]
    public void WithoutACommandAndWithoutATerminalItPrintsTheUsage()
    {
        var (code, stdout, _) = HostProcess.Run();
        Assert.Equal(0, code);
        Assert.StartsWith("Usage: llmcpu", stdout);
    }

    [SkippableFact]
    public void InATerminalWithoutACommandItRunsAnInteractiveSessionWithProgress()
    {
        Skip.If(OperatingSystem.IsWindows(), "The session is driven through a Unix pseudo-terminal (python3's pty module).");
        Skip.IfNot(HasPython(), "python3 is not installed; it drives the pseudo-terminal.");
        var reference = FixtureReference.Load().Prompts[1];
        var (code, shown) = RunInTerminal(
        [
            "$m = Import-Model",
            "if ($true) {",
            $"  ($m | Invoke-Generation -Prompt '{reference.Text}' -Temperature 0 -MaxTokens 6).TokenIds -join ','",
            "}",
            "exit 5",
        ]);
        Assert.True(code == 5, shown);
        Assert.Contains("'exit' or Ctrl+D ends the session", shown);
        Assert.Contains("PS ", shown);
        Assert.Contains(">> ", shown); // the open brace asked for more input
        Assert.Contains(string.Join(',', reference.Greedy.Take(6)), shown);
        // Standard error is the terminal here, so loading draws a progress bar in place (absent when redirected).
        Assert.Contains("\u001b[2KLoading model: layer", shown);
    }

    [SkippableFact]
    public void InTheInteractiveSessionCtrlCStopsTheRunningCommandAndTheSessionGoesOn()
    {
        Skip.If(OperatingSystem.IsWindows(), "The session is driven through a Unix pseudo-terminal (python3's pty module).");
        Skip.IfNot(HasPython(), "python3 is not installed; it drives the pseudo-terminal.");
        // Ctrl+C at the prompt does nothing; during the loop it stops the loop, and the next command runs.
        var (code, shown) = RunInTerminal(
            ["#wait PS ", "^C", "'loop' + 'ing'; while ($true) { $null = 1 }", "#wait looping", "^C", "#wait PS ", "'after' + 'wards'", "exit 5"]);
        Assert.True(code == 5, shown);
        int looping = shown.IndexOf("looping"), stopped = shown.IndexOf("Stopped.");
        Assert.True(looping >= 0 && looping < stopped, shown);
        Assert.True(shown.IndexOf("afterwards") > stopped, shown);
    }

    /// <summary>Types <paramref name="lines"/> into llmcpu in a pseudo-terminal (tests/Unit/Host/pty-session.py; "^C" is Ctrl+C).</summary>
    private static (int ExitCode, string Shown) RunInTerminal(string[] lines)
    {
        string input = Path.GetTempFileName();
        File.WriteAllLines(input, lines);
        try
        {
            var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { Path.Combine(RepoPaths.Root, "tests", "Unit", "Host", "pty-session.py"), input, "dotnet", RepoPaths.HostAssembly })
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            string shown = process.StandardOutput.ReadToEnd();
            Assert.True(process.WaitForExit(150_000), "the interactive session did not end");
            return (process.ExitCode, shown + process.StandardError.ReadToEnd());
        }
        finally
        {
            File.Delete(input);
        }
    }

    private static bool HasPython()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("python3", "--version") { RedirectStandardOutput = true })!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
