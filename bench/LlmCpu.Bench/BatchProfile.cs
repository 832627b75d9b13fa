using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Where a batched decode step's time goes: <c>sequences</c> greedy requests decoded together, the milliseconds per
/// step of each forward-pass stage (the matrix products include quantizing their activations), and what the step spends
/// outside the pass (sampling over the vocabulary, stop rules, text for the listener, bookkeeping): the wall time less
/// the stages. Counted from the step after the last prompt's, so every step measured is decode tokens only.
/// </summary>
public static class BatchProfile
{
    /// <param name="sampled">Each request samples with Invoke-Generation's default chain (temperature, top-k, top-p,
    /// seeded per request) instead of taking the most likely token: what sampling over the vocabulary costs a step.</param>
    public static void Run(string path, int threads, int sequences = 8, int generatedTokens = 64, bool sampled = false)
    {
        using var model = BenchModels.Load(path);
        using var pool = new WorkerPool(threads);
        var requests = Enumerable.Range(0, sequences).Select(i => new GenerationRequest($"Request {i}: the quick brown fox jumps over the lazy dog",
            new GenerationOptions { MaxTokens = generatedTokens, StopAtEos = false, ReusePromptPrefix = false,
                Sampling = sampled ? new SamplingOptions { Seed = i } : SamplingOptions.Greedy })).ToArray();
        var generator = new BatchedGenerator(model, sequences, pool);
        generator.Generate(requests.Take(Math.Min(2, sequences)).ToArray()); // warm-up: JIT, worker threads, the file's pages
        var timings = new ForwardTimings();
        generator.Timings = timings;
        // Decode steps only: the clock, the stage timings and the step count start over once every sequence has its
        // first token (its prompt has run), so prompt rows do not count.
        var clock = new Stopwatch();
        int started = 0, firstDecodeStep = 0, decodeTokens = 0;
        generator.Generate(requests, onPiece: piece =>
        {
            if (piece.TokenId >= 0 && clock.IsRunning) decodeTokens++;
            if (piece.Index != 0 || ++started != sequences) return;
            timings.Reset();
            firstDecodeStep = generator.StepCounts.Steps;
            clock.Restart();
        });
        double wall = clock.Elapsed.TotalSeconds;
        int steps = generator.StepCounts.Steps - firstDecodeStep;
        double PerStep(TimeSpan time) => Math.Round(time.TotalMilliseconds / steps, 3);
        var stages = Enum.GetValues<ForwardTimings.Stage>().ToDictionary(s => s.ToString(), s => PerStep(timings[s]));
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            test = "batch-profile", model = model.Name, precision = model.Precision, threads, isa = KernelDispatch.Best.ToString(), sequences,
            sampling = sampled ? "default chain" : "greedy",
            tokensPerSequence = generatedTokens, decodeSteps = steps, decodeTokens, aggregateTokensPerSecond = Math.Round(decodeTokens / wall, 2),
            msPerStep = Math.Round(wall * 1000 / steps, 3), forwardMsPerStep = PerStep(timings.Total),
            outsideForwardMsPerStep = Math.Round((wall - timings.Total.TotalSeconds) * 1000 / steps, 3), stageMsPerStep = stages,
        }));
    }
}
