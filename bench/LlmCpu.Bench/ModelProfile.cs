using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Per-matrix GEMV time of each kind of layer matrix and the output projection: where a decode step's time goes. Each
/// sample runs the next layer's matrix of the kind, so that, as in decoding, its weights come from memory, not from a
/// cache that the previous sample filled (one layer's matrix is a few MB, within a last-level cache).
/// </summary>
public static unsafe class ModelProfile
{
    /// <summary>Timed multiplications per figure (the median is reported).</summary>
    private const int Rounds = 30;

    public static void Run(string path, int threads)
    {
        using var model = BenchModels.Load(path);
        using var pool = new WorkerPool(threads);
        using var runner = new MatMulRunner(pool);
        var layers = model.Weights.Layers;
        var kinds = new (string Name, WeightMatrix[] Matrices, int Count)[]
        {
            ("qkv", [.. layers.Select(l => l.QueryKeyValue)], model.LayerCount), ("attn_output", [.. layers.Select(l => l.AttentionOutput)], model.LayerCount),
            ("gate_up", [.. layers.Select(l => l.GateUp)], model.LayerCount), ("down", [.. layers.Select(l => l.Down)], model.LayerCount),
            ("output", [model.Weights.Output], 1),
        };
        double total = 0;
        foreach (var (name, matrices, count) in kinds)
        {
            var matrix = matrices[0];
            double seconds = MedianSeconds(runner, matrices);
            total += seconds * count;
            Console.WriteLine(JsonSerializer.Serialize(new { matrix = name, format = matrix.Format, rows = matrix.Rows, columns = matrix.Columns, count, seconds, gbPerSecond = Math.Round(matrix.ByteSize / seconds / 1e9, 2) }));
            // A stacked matrix (a Q4_K_M file's Q4_K query and key with Q6_K values) also part by part: which format holds
            // the whole back. Each part cycles through the layers whose part is in the first layer's format.
            if (matrix is StackedMatrix stacked)
            {
                var stackedLayers = matrices.OfType<StackedMatrix>().ToArray();
                var alike = stackedLayers.Where(m => m.Format == stacked.Format).ToArray();
                double stackedSeconds = MedianSeconds(runner, alike);
                Console.WriteLine(JsonSerializer.Serialize(new { matrix = $"{name} ({stacked.Format} only)", format = stacked.Format, rows = stacked.Rows, columns = stacked.Columns, layers = alike.Length, seconds = stackedSeconds, gbPerSecond = Math.Round(stacked.ByteSize / stackedSeconds / 1e9, 2) }));
                for (int p = 0; p < stacked.Parts.Count; p++)
                {
                    var part = stacked.Parts[p];
                    var sameParts = stackedLayers.Select(m => m.Parts[p]).Where(m => m.Format == part.Format).ToArray();
                    double partSeconds = MedianSeconds(runner, sameParts);
                    Console.WriteLine(JsonSerializer.Serialize(new { matrix = $"{name}[{p}]", format = part.Format, rows = part.Rows, columns = part.Columns, layers = sameParts.Length, seconds = partSeconds, gbPerSecond = Math.Round(part.ByteSize / partSeconds / 1e9, 2) }));
                }
            }
        }
        Console.WriteLine(JsonSerializer.Serialize(new { model = model.Name, threads, matmulSecondsPerToken = total, tokensPerSecondBound = Math.Round(1 / total, 1) }));
    }

    /// <summary>Median seconds of <see cref="Rounds"/> one-token multiplications cycling through <paramref name="matrices"/>, after five warm-up ones.</summary>
    private static double MedianSeconds(MatMulRunner runner, WeightMatrix[] matrices)
    {
        var x = new float[matrices[0].Columns];
        var y = new float[matrices.Max(m => m.Rows)];
        for (int i = 0; i < x.Length; i++) x[i] = (i % 7 - 3) * 0.1f;
        var samples = new double[Rounds];
        fixed (float* px = x)
        fixed (float* py = y)
        {
            for (int i = 0; i < 5; i++) runner.Multiply(matrices[i % matrices.Length], px, py, 1);
            for (int i = 0; i < samples.Length; i++)
            {
                long start = Stopwatch.GetTimestamp();
                runner.Multiply(matrices[i % matrices.Length], px, py, 1);
                samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }
        Array.Sort(samples);
        return samples[samples.Length / 2];
    }
}
