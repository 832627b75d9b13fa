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
}
