using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Seconds per step of the block-wise SignRound and TEQ training (<see cref="SignRoundBlockTraining"/>,
/// <see cref="TeqBlockTraining"/>) on one random Llama-layout layer of a given shape, a minibatch of calibration
/// windows of random hidden states per step: what a layer of that shape costs (steps x seconds per step), without the
/// model. Prints one JSON line per recipe.
/// </summary>
internal static class BlockTrainingBench
{
    public static void Run(int dim, int ffn, int heads, int kvHeads, int threads, int steps, int batch)
    {
        const int tokens = CalibrationText.WindowLength;
        var config = new ModelConfig
        {
            Architecture = "llama", EmbeddingLength = dim, LayerCount = 1, HeadCount = heads, KvHeadCount = kvHeads, FeedForwardLength = ffn,
            VocabularySize = 32, ContextLength = tokens, NormEpsilon = 1e-5f,
        };
        var random = new Random(1);
        float[] Random(int count, double scale) => Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
        using var layer = new LayerWeights
        {
            AttentionNorm = Enumerable.Repeat(1f, dim).ToArray(), FeedForwardNorm = Enumerable.Repeat(1f, dim).ToArray(),
            QueryKeyValue = Float32Matrix.FromRowMajor(Random((dim + 2 * config.KvDim) * dim, 1 / Math.Sqrt(dim)), dim + 2 * config.KvDim, dim),
            AttentionOutput = Float32Matrix.FromRowMajor(Random(dim * dim, 1 / Math.Sqrt(dim)), dim, dim),
            GateUp = Float32Matrix.FromRowMajor(Random(2 * ffn * dim, 1 / Math.Sqrt(dim)), 2 * ffn, dim),
            Down = Float32Matrix.FromRowMajor(Random(dim * ffn, 1 / Math.Sqrt(ffn)), dim, ffn),
        };
        // One minibatch of windows, and the point evaluated (a forward over the evaluation windows) only at the first and
        // last steps: the figure is a training step's time. A conversion adds an evaluation over 8 windows every
        // 10 steps, 0.8 window forwards a step, about 13% of a 2-window step (a forward and a backward: about 3 forwards each).
        var options = new SignedDescentOptions { Steps = steps, BatchWindows = batch, EvaluationWindows = 1, EvaluateEvery = int.MaxValue };
        var states = Enumerable.Range(0, batch).Select(_ => Random(tokens * dim, 1)).ToArray();
        using var pool = new WorkerPool(threads);
        var f = FloatLayer.Of(layer);
        float[][] weights = [f.QueryKeyValue, f.AttentionOutput, f.GateUp, f.Down];
        var format = new Int4Format(128, false);

        long start = Stopwatch.GetTimestamp();
        var set = new BlockTrainingSet(config, layer, states, options, pool, default);
        double targets = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var sources = new[] { layer.QueryKeyValue, layer.AttentionOutput, layer.GateUp, layer.Down };
        var matrices = sources.Select(m => new Int4Matrix(m.Rows, m.Columns, format with { Recipe = Int4Recipe.SignRound })).ToArray();
        start = Stopwatch.GetTimestamp();
        SignRoundBlockTraining.Train(weights, matrices, set, pool, options, default);
        double signRound = Stopwatch.GetElapsedTime(start).TotalSeconds;
        foreach (var m in matrices) m.Dispose();
        start = Stopwatch.GetTimestamp();
        TeqBlockTraining.Train(weights, format, config, set, pool, options with { LearningRate = SignedDescentOptions.Teq.LearningRate }, default);
        double teq = Stopwatch.GetElapsedTime(start).TotalSeconds;
        foreach (var (recipe, seconds) in new[] { ("SignRound", signRound), ("Teq", teq) })
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                bench = "block-training", recipe, dim, ffn, heads, kvHeads, threads, batchWindows = batch, windowTokens = tokens, steps,
                secondsPerStep = Math.Round(seconds / steps, 3), secondsFor200Steps = Math.Round(seconds / steps * 200), targetSeconds = Math.Round(targets, 2), isa = BenchIsa(),
            }));
    }

    private static string BenchIsa() => System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "AVX-512" : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2" : "other";
}
