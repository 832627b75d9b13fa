using System.Diagnostics;

namespace LlmCpu.Tests.Support;

/// <summary>The llmcpu host as a user runs it: a child process, its stdout, stderr and exit code.</summary>
public static class HostProcess
{
    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => Run(new Dictionary<string, string>(), args);

    /// <param name="closeInput">Close standard input at once (end of input); false leaves it open and silent, as a
    /// pipe from a process that never writes, so a host that tried to read it would hang.</param>
    public static (int ExitCode, string Stdout, string Stderr) Run(IReadOnlyDictionary<string, string> environment, string[] args,
        bool closeInput = true, int timeoutMilliseconds = 120_000)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (name, value) in environment) start.Environment[name] = value;
        start.ArgumentList.Add(RepoPaths.HostAssembly);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        if (closeInput) process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutMilliseconds))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"llmcpu did not finish in {timeoutMilliseconds / 1000} s; stderr so far: {(stderr.IsCompleted ? stderr.Result : "")}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Starts llmcpu with SIGINT at its default disposition, as a job in the foreground of a terminal has it, and
    /// standard input, output and error redirected. A process started with SIGINT ignored (a background job of a
    /// non-interactive shell, and every process started under it, the test run included) passes that on, and .NET
    /// respects it: Console.CancelKeyPress never fires. The Ctrl+C tests would otherwise test how the run was started.
    /// Uses GNU env's --default-signal (coreutils 8.31 or later); see <see cref="CanStartWithInterruptEnabled"/>.
    /// </summary>
    public static Process StartWithInterruptEnabled(params string[] args)
    {
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string arg in new[] { "--default-signal=INT", "dotnet", RepoPaths.HostAssembly }.Concat(args)) start.ArgumentList.Add(arg);
        return Process.Start(start)!; // env executes dotnet in its own process, so the id is the host's
    }

    public static bool CanStartWithInterruptEnabled()
    {
        if (OperatingSystem.IsWindows()) return false;
        try
        {
            using var probe = Process.Start(new ProcessStartInfo("env", ["--default-signal=INT", "true"]) { RedirectStandardError = true })!;
            probe.WaitForExit();
            return probe.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Ctrl+C as the terminal sends it: SIGINT to the process.</summary>
    public static void SendInterrupt(Process process)
    {
        using var kill = Process.Start("kill", ["-s", "INT", process.Id.ToString()]);
        kill.WaitForExit();
    }
}
