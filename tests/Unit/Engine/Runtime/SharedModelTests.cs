using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>One loaded model serving several generations at once: each gets exactly the tokens it gets alone.</summary>
public sealed class SharedModelTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Fact]
    public void ConcurrentGenerationsOnOneModelGiveTheirSoloTokens()
    {
        string[] prompts = ["It is a truth universally acknowledged", "Mr. Darcy", "She was not", "The evening passed"];
        GenerationOptions Options(int seed) => new() { MaxTokens = 40, StopAtEos = false, Sampling = new SamplingOptions { Seed = seed } };
        var alone = prompts.Select((p, i) => new TextGenerator(fixture.Model).Generate(p, Options(i)).TokenIds.ToArray()).ToArray();

        using var sharedPool = new WorkerPool(2);
        using var start = new Barrier(prompts.Length * 2);
        var results = new int[prompts.Length * 2][];
        // Half the generations share one worker pool (they take turns per matmul), half have their own.
        var threads = Enumerable.Range(0, results.Length).Select(i => new Thread(() =>
        {
            int p = i % prompts.Length;
            using var own = i < prompts.Length ? null : new WorkerPool(1);
            start.SignalAndWait();
            results[i] = new TextGenerator(fixture.Model, own ?? sharedPool).Generate(prompts[p], Options(p)).TokenIds.ToArray();
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();
        for (int i = 0; i < results.Length; i++) Assert.Equal(alone[i % prompts.Length], results[i]);
    }
}
