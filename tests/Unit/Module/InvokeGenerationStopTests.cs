using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>
/// Ctrl+C (PowerShell's Stop) during a generation that would run for a minute: the pipeline stops within a fraction
/// of a second, during decoding and during a long prompt. Were the cmdlet not to pass its stop token to the Engine, the
/// generation would run to its end first and these would fail.
/// </summary>
[Collection(SyntheticTinyLlamaCollection.Name)]
public sealed class InvokeGenerationStopTests(SyntheticTinyLlama tinyLlama)
{
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(1);

    [Theory]
    [InlineData("decode", "'It is a truth'", 1500)]
    [InlineData("prefill", "('It is a truth universally acknowledged, that a single man in possession of a good fortune ' * 60)", 2)]
    public void StoppingReturnsPromptly(string phase, string prompt, int maxTokens)
    {
        using var runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        runspace.Open();
        using var ps = PowerShell.Create();
        ps.Runspace = runspace;
        // The runspace is in this process: the script marks the moment the model is loaded in the AppDomain's data,
        // under a key of this run's own, so the test stops the generation and not the import before it.
        string loadedKey = $"LlmCpu.Tests.InvokeGenerationStop.{Guid.NewGuid():N}";
        ps.AddScript($"""
            Import-Module '{RepoPaths.ModuleManifest}'
            $m = Import-Model -LiteralPath '{tinyLlama.Path}'
            [AppDomain]::CurrentDomain.SetData('{loadedKey}', $true)
            $m | Invoke-Generation -Prompt {prompt} -MaxTokens {maxTokens} -Seed 1 -Stream -OutVariable global:pieces
            """);
        var output = new PSDataCollection<PSObject>();
        var handle = ps.BeginInvoke<PSObject, PSObject>(null, output);
        // Stop once the phase is under way (loading may take a while on a busy machine), after it has run a moment:
        // decoding when the first piece has arrived, the prompt's thousand tokens when the model is loaded.
        if (phase == "decode")
        {
            Assert.True(WaitUntil(() => output.Count > 0, handle), "no piece arrived before the pipeline ended or within the wait");
            Thread.Sleep(200);
        }
        else
        {
            Assert.True(WaitUntil(() => AppDomain.CurrentDomain.GetData(loadedKey) is not null, handle), "the model was not loaded before the pipeline ended or within the wait");
            Thread.Sleep(300);
        }
        Assert.False(handle.IsCompleted, $"the {phase} finished before it could be stopped");
        var clock = Stopwatch.StartNew();
        ps.Stop();
        var elapsed = clock.Elapsed;
        Assert.Equal(PSInvocationState.Stopped, ps.InvocationStateInfo.State);
        Assert.True(elapsed < StopBound, $"stopping the {phase} took {elapsed.TotalMilliseconds:F0} ms");
        if (phase == "decode")
        {
            // What was generated before the stop went down the pipeline as it came, and -OutVariable keeps it.
            var pieces = ((System.Collections.IEnumerable)runspace.SessionStateProxy.GetVariable("pieces")).Cast<object>().ToArray();
            Assert.NotEmpty(pieces);
            Assert.All(pieces, p => Assert.IsType<LlmCpu.Engine.Runtime.GenerationPiece>((p as PSObject)?.BaseObject ?? p));
        }
    }

    /// <summary>Polls <paramref name="ready"/> until it holds, the pipeline ends or a minute passes; returns whether it held.</summary>
    private static bool WaitUntil(Func<bool> ready, IAsyncResult pipeline)
    {
        var waiting = Stopwatch.StartNew();
        while (!ready() && !pipeline.IsCompleted && waiting.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(20);
        return ready();
    }
}
