using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Aggregate decode speed of a batch: 1, 2, 4, 8 and 16 sequences generated at once by <see cref="BatchedGenerator"/>
/// (each decode step one pass over the weights for all of them), against one sequence at a time. One JSON line per
/// batch size.
/// </summary>
public static class BatchBench
{
    /// <param name="rounds">
    /// Rounds of all batch sizes, one after another; per batch size the median over the rounds is reported, and the
    /// speedup is the median of each round's ratio to that round's one-sequence figure, so that a change in the
    /// machine's load between rounds moves both sides of a ratio.
    /// </param>
    public static void Run(string path, int threads, int generatedTokens = 64, int rounds = 1)
    {
        using var model = BenchModels.Load(path);
        using var pool = new WorkerPool(threads);
        int[] sizes = [1, 2, 4, 8, 16];
        // Warm-up: a whole round, discarded. The runtime replaces its first, unoptimized code of the generator's
        // per-step methods only after they have run a while; with a warm-up of one short sequence, the first measured
        // figure (one sequence at a time) still ran much of that code: 38 t/s against 59 in the rounds after it
        // (TinyLlama-1.1B Q4_0, Zen 5, 2 threads), which made every speedup over it look larger than it is.
        foreach (int size in sizes) Measure(model, pool, size, generatedTokens);
        var figures = new (double TokensPerSecond, int DecodeTokens, double Seconds)[rounds, sizes.Length];
        for (int r = 0; r < rounds; r++)
        {
            for (int i = 0; i < sizes.Length; i++) figures[r, i] = Measure(model, pool, sizes[i], generatedTokens);
        }
        for (int i = 0; i < sizes.Length; i++)
        {
            var perRound = Enumerable.Range(0, rounds).Select(r => figures[r, i]).ToArray();
            double tokensPerSecond = Median.Of(perRound.Select(f => f.TokensPerSecond));
            double alone = Median.Of(Enumerable.Range(0, rounds).Select(r => figures[r, 0].TokensPerSecond));
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                test = "batch-decode", model = model.Name, precision = model.Precision, threads, isa = KernelDispatch.Best.ToString(),
                sequences = sizes[i], tokensPerSequence = generatedTokens, rounds, decodeTokens = perRound[0].DecodeTokens,
                decodeSeconds = perRound.Select(f => Math.Round(f.Seconds, 3)).ToArray(),
                tokensPerSecond, roundTokensPerSecond = perRound.Select(f => Math.Round(f.TokensPerSecond, 2)).ToArray(),
                oneAtATimeTokensPerSecond = alone,
                speedup = Median.Of(Enumerable.Range(0, rounds).Select(r => figures[r, i].TokensPerSecond / figures[r, 0].TokensPerSecond)),
            }));
        }
    }

    /// <summary>
    /// Decode tokens per second of <paramref name="sequences"/> greedy requests of <paramref name="generatedTokens"/>
    /// tokens each, all in flight together (every request has a slot). The clock starts when the last request has its
    /// first token (every prompt has run) and counts the tokens generated after that, all of them by decode steps.
    /// Prompts that run in the same steps as other sequences' decode tokens make per-request prompt times overlap, so
    /// the time is taken from the tokens as they come, not from the results' prompt times.
    /// </summary>
    private static (double TokensPerSecond, int DecodeTokens, double Seconds) Measure(LanguageModel model, WorkerPool pool, int sequences, int generatedTokens)
    {
        var requests = Enumerable.Range(0, sequences).Select(i => new GenerationRequest($"Request {i}: the quick brown fox jumps over the lazy dog",
            new GenerationOptions { MaxTokens = generatedTokens, StopAtEos = false, ReusePromptPrefix = false, Sampling = SamplingOptions.Greedy })).ToArray();
        var generator = new BatchedGenerator(model, sequences, pool);
        var clock = new Stopwatch();
        int started = 0, decodeTokens = 0;
        var outcomes = generator.Generate(requests, onPiece: piece =>
        {
            if (piece.TokenId >= 0 && clock.IsRunning) decodeTokens++;
            if (piece.Index == 0 && ++started == sequences) clock.Start();
        });
        double seconds = clock.Elapsed.TotalSeconds;
        foreach (var outcome in outcomes) _ = outcome.Result ?? throw outcome.Error!;
        return (decodeTokens / seconds, decodeTokens, seconds);
    }
}
