using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Module;

/// <summary>
/// Ctrl+C (PowerShell's Stop) during each long operation other than generation (InvokeGenerationStopTests covers
/// prefill and decode): a conversion, writing a synthetic model, a benchmark. Each stops within the bound, leaves no
/// output file and no temporary file, and the model it used still generates.
/// </summary>
[Collection(SyntheticTinyLlamaCollection.Name)]
public sealed class LongOperationStopTests(SyntheticTinyLlama tinyLlama, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(2);

    private readonly string _folder = Directory.CreateTempSubdirectory("llmcpu-stop-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("conversion to GGUF", "$m | ConvertTo-Gguf -Destination $dst -Type Q4_0")]
    [InlineData("writing a synthetic model", "New-SyntheticModel -Shape TinyLlama-1.1B -Destination $dst")]
    [InlineData("a benchmark", "Measure-TokenLatency -Model $m -PromptTokens 512 -GenerateTokens 128 -Repetitions 20")]
    public void StopsWithinTheBoundLeavingNoFileAndAUsableModel(string operation, string command)
    {
        using var runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        runspace.Open();
        using var ps = PowerShell.Create();
        ps.Runspace = runspace;
        string destination = Path.Combine(_folder, "out.bin");
        ps.AddScript($"""
            Import-Module '{RepoPaths.ModuleManifest}'
            $m = Import-Model -LiteralPath '{tinyLlama.Path}'
            $dst = '{destination}'
            {command}
            """);
        var handle = ps.BeginInvoke();
        if (command.Contains("$dst"))
        {
            // A writer: stop once its temporary file exists, i.e. mid-write (a quiet machine writes the whole file in
            // about a second, so a fixed wait could miss it).
            var waiting = Stopwatch.StartNew();
            while (Directory.GetFiles(_folder, "*.partial").Length == 0 && !handle.IsCompleted && waiting.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
            Thread.Sleep(50);
        }
        else
        {
            Thread.Sleep(2000);
        }
        Assert.False(handle.IsCompleted, $"{operation} finished before it could be stopped");
        var clock = Stopwatch.StartNew();
        ps.Stop();
        var elapsed = clock.Elapsed;
        output.WriteLine($"{operation}: stopped {elapsed.TotalMilliseconds:F0} ms after the request");
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        // What the operation said it was doing last, so a slow stop names the stage that did not see the request.
        var lastProgress = ps.Streams.Progress.LastOrDefault();
        string stage = lastProgress is null ? "no progress reported" : $"last progress: {lastProgress.Activity}: {lastProgress.StatusDescription}";
        Assert.True(elapsed < StopBound, $"stopping {operation} took {elapsed.TotalMilliseconds:F0} ms ({stage})");
        Assert.Empty(Directory.GetFileSystemEntries(_folder));

        var after = new TextGenerator(tinyLlama.Model).Generate("It is", new GenerationOptions { MaxTokens = 2, StopAtEos = false, Sampling = SamplingOptions.Greedy });
        Assert.Equal(2, after.GeneratedTokens);
    }
}
