using System.Diagnostics;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Stopping a generation that would otherwise run for a long time: during decoding and during a prefill of many
/// chunks, on a model of real size (a token or a layer takes milliseconds, the whole request tens of seconds). The
/// generation must return soon after the request with what it has, and the model must stay usable.
/// </summary>
[Collection(SyntheticTinyLlamaCollection.Name)]
public sealed class CancellationTests(SyntheticTinyLlama tinyLlama, Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>
    /// How long after the request a stop may take. Stops are checked between layers: here a decode step takes about
    /// 40 ms and a layer of a 64-token chunk about 30 ms, while a whole chunk (where stops were once checked) takes
    /// 0.7 s. The bound leaves room for a busy machine without letting a chunk-sized delay pass.
    /// </summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromMilliseconds(300);

    [Fact]
    public void ALongGenerationStopsPromptlyWithWhatItGenerated()
    {
        var generator = new TextGenerator(tinyLlama.Model);
        using var stop = new CancellationTokenSource();
        long requested = 0;
        var options = new GenerationOptions { MaxTokens = 1500, StopAtEos = false, Sampling = new SamplingOptions { Seed = 3 } };
        int tokensSeen = 0;
        var result = generator.Generate("It is a truth universally acknowledged", options, stop.Token, token =>
        {
            // Ask for the stop from another thread once decoding is well under way.
            if (++tokensSeen == 5) ThreadPool.QueueUserWorkItem(_ => { Thread.Sleep(500); requested = Stopwatch.GetTimestamp(); stop.Cancel(); });
        });
        var latency = Stopwatch.GetElapsedTime(requested);
        output.WriteLine($"stopped {latency.TotalMilliseconds:F1} ms after the request, after {result.GeneratedTokens} tokens at {result.TokensPerSecond:F1} tokens/s");
        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.InRange(result.GeneratedTokens, 5, 1499);
        Assert.Equal(result.GeneratedTokens, result.TokenIds.Count);
        Assert.True(latency < StopBound, $"returned {latency.TotalMilliseconds:F0} ms after the stop request");
    }

    [Fact]
    public void ALongPrefillStopsWithinALayerAndTheModelStaysUsable()
    {
        var generator = new TextGenerator(tinyLlama.Model);
        var chunkBefore = ChunkTime(generator);
        string prompt = string.Join(' ', Enumerable.Repeat("It is a truth universally acknowledged, that a single man in possession of a good fortune", 60));
        Assert.True(tinyLlama.Model.Tokenizer.Encode(prompt, addBos: true).Length > 10 * InferenceSession.MaxChunk);
        using var stop = new CancellationTokenSource();
        long requested = 0;
        ThreadPool.QueueUserWorkItem(_ => { Thread.Sleep(700); requested = Stopwatch.GetTimestamp(); stop.Cancel(); });
        var clock = Stopwatch.StartNew();
        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = 4 }, stop.Token);
        var latency = Stopwatch.GetElapsedTime(requested);
        var chunk = Max(chunkBefore, ChunkTime(generator));
        // A stop checked per chunk would come half a chunk late on average; per layer, a 22nd of one. On a machine
        // busy enough that a chunk takes several times its usual 0.7 s, a quarter of a chunk still tells them apart
        // where the fixed bound does not.
        var bound = Max(StopBound, chunk / 4);
        output.WriteLine($"stopped {latency.TotalMilliseconds:F1} ms after the request, prompt time {result.PromptTime.TotalMilliseconds:F0} ms, a chunk {chunk.TotalMilliseconds:F0} ms");
        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.Equal(0, result.GeneratedTokens);
        Assert.True(latency < bound, $"returned {latency.TotalMilliseconds:F0} ms after the stop request (bound {bound.TotalMilliseconds:F0} ms)");
        // The time so far was prompt time, counted once.
        Assert.True(result.PromptTime <= clock.Elapsed && result.PromptTime > TimeSpan.Zero, $"prompt time {result.PromptTime} of {clock.Elapsed}");
        Assert.Equal(TimeSpan.Zero, result.GenerationTime);

        var after = generator.Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 3, Sampling = SamplingOptions.Greedy, StopAtEos = false });
        Assert.Equal(3, after.GeneratedTokens);
    }

    /// <summary>
    /// How long one prefill chunk of <see cref="InferenceSession.MaxChunk"/> tokens takes now, on this machine under its
    /// present load: a prompt of two chunks' worth, run in full (no reused prefix), timed, per chunk.
    /// </summary>
    private TimeSpan ChunkTime(TextGenerator generator)
    {
        string prompt = string.Join(' ', Enumerable.Repeat("Elizabeth walked on alone, crossing field after field at a quick pace", 8));
        var result = generator.Generate(prompt, new GenerationOptions { MaxTokens = 1, ReusePromptPrefix = false });
        Assert.True(result.PromptTokens >= InferenceSession.MaxChunk, $"{result.PromptTokens} prompt tokens");
        return result.PromptTime * ((double)InferenceSession.MaxChunk / result.PromptTokens);
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
