using System.Diagnostics;
using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>Per-matrix GEMV time of a model's first layer and output projection: where a decode step's time goes.</summary>
public static unsafe class ModelProfile
{
    public static void Run(string path, int threads)
    {
        using var model = BenchModels.Load(path);
        using var pool = new WorkerPool(threads);
        using var runner = new MatMulRunner(pool);
        var layer = model.Weights.Layers[0];
        var matrices = new (string Name, WeightMatrix Matrix, int Count)[]
        {
            ("qkv", layer.QueryKeyValue, model.LayerCount), ("attn_output", layer.AttentionOutput, model.LayerCount),
            ("gate_up", layer.GateUp, model.LayerCount), ("down", layer.Down, model.LayerCount), ("output", model.Weights.Output, 1),
        };
        double total = 0;
        foreach (var (name, matrix, count) in matrices)
        {
            var x = new float[matrix.Columns];
            var y = new float[matrix.Rows];
            new Random(1).NextBytes(new byte[1]);
            for (int i = 0; i < x.Length; i++) x[i] = (i % 7 - 3) * 0.1f;
            var samples = new double[30];
            fixed (float* px = x)
            fixed (float* py = y)
            {
                for (int i = 0; i < 5; i++) runner.Multiply(matrix, px, py, 1);
                for (int i = 0; i < samples.Length; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    runner.Multiply(matrix, px, py, 1);
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
