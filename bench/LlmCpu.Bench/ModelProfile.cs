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
            var x = new float[matrix.Columns];
            var y = new float[matrix.Rows];
            for (int i = 0; i < x.Length; i++) x[i] = (i % 7 - 3) * 0.1f;
            var samples = new double[30];
            fixed (float* px = x)
            fixed (float* py = y)
            {
                for (int i = 0; i < 5; i++) runner.Multiply(matrices[i % matrices.Length], px, py, 1);
                for (int i = 0; i < samples.Length; i++)
                {
                    var next = matrices[i % matrices.Length];
                    long start = Stopwatch.GetTimestamp();
                    runner.Multiply(next, px, py, 1);
                    samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
                }
            }
            Array.Sort(samples);
            double seconds = samples[samples.Length / 2];
            total += seconds * count;
            Console.WriteLine(JsonSerializer.Serialize(new { matrix = name, format = matrix.Format, rows = matrix.Rows, columns = matrix.Columns, count, seconds, gbPerSecond = Math.Round(matrix.ByteSize / seconds / 1e9, 2) }));
        }
        Console.WriteLine(JsonSerializer.Serialize(new { model = model.Name, threads, matmulSecondsPerToken = total, tokensPerSecondBound = Math.Round(1 / total, 1) }));
    }
}
