using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// GPTQ's calibration work on one random Llama layer of a given shape, one JSON line per step: the four inputs' XᵀX
/// sums (fed in the forward pass's chunks of <see cref="InferenceSession.MaxChunk"/> tokens, as calibration feeds
/// them), then GPTQ on each matrix with the Gptq recipe's options (clip search and scale refit) at groups of 128
/// without zero points. With <c>parts</c>, also the Cholesky step alone, plain GPTQ (neither option) and GPTQ with the
/// clip search only, to show what each part costs; with <c>sums</c>, the sums alone.
/// </summary>
/// <remarks>
/// The GFLOP figures are nominal counts, one multiply and one add each counted: the sums tokens · n(n+1) (the lower
/// triangle); GPTQ's column updates rows · n² (column i updates the n - 1 - i columns after it in every row). The clip
/// search and the refit do work of the same order (rows · n · 21 · 128 and rows · n² per pass), which the recipe's
/// time includes but its GFLOP figure does not count.
/// </remarks>
internal static class GptqLayerBench
{
    private static void Print(object figure) => Console.WriteLine(JsonSerializer.Serialize(figure));

    public static void Run(int tokens, int width, int feedForward, int keyValue, int threads, bool parts, bool sumsOnly)
    {
        using var pool = new WorkerPool(threads);
        string isa = Vector512.IsHardwareAccelerated ? "avx512" : Vector256.IsHardwareAccelerated ? "avx2" : "scalar";
        var shapes = new (string Name, LinearInput Input, int Rows, int Columns)[]
        {
            ("qkv", LinearInput.QueryKeyValue, width + 2 * keyValue, width),
            ("o", LinearInput.AttentionOutput, width, width),
            ("gate-up", LinearInput.GateUp, 2 * feedForward, width),
            ("down", LinearInput.Down, width, feedForward),
        };
        double sumsSeconds = 0, sumsCpuSeconds = 0, gptqSeconds = 0, gptqCpuSeconds = 0;
        var random = new Random(1);
        foreach (var (name, input, rows, columns) in shapes)
        {
            var accumulator = new HessianAccumulator(columns);
            var chunk = new float[InferenceSession.MaxChunk * columns];
            // Activations whose columns differ in scale, as real ones do (a few channels far larger than the rest).
            var columnScale = new float[columns];
            for (int c = 0; c < columns; c++) columnScale[c] = c % 97 == 0 ? 20f : 0.5f + random.NextSingle();
            double seconds = 0, cpuSeconds = 0;
            for (int t0 = 0; t0 < tokens; t0 += InferenceSession.MaxChunk)
            {
                int n = Math.Min(InferenceSession.MaxChunk, tokens - t0);
                for (int i = 0; i < n * columns; i++) chunk[i] = (random.NextSingle() * 2 - 1) * columnScale[i % columns];
                var (wall, cpu) = Timed(() => accumulator.Add(chunk.AsSpan(0, n * columns), n, pool));
                (seconds, cpuSeconds) = (seconds + wall, cpuSeconds + cpu);
            }
            (sumsSeconds, sumsCpuSeconds) = (sumsSeconds + seconds, sumsCpuSeconds + cpuSeconds);
            double sumFlops = (double)tokens * columns * (columns + 1);
            Print(new { step = "sums", matrix = name, columns, tokens, seconds = Math.Round(seconds, 3), cpuSeconds = Math.Round(cpuSeconds, 3),
                gflops = Math.Round(sumFlops / seconds / 1e9, 1), isa, threads });

            if (sumsOnly) continue;
            var h = accumulator.Hessian();
            var weights = new float[(long)rows * columns];
            for (long i = 0; i < weights.Length; i++) weights[i] = (random.NextSingle() * 2 - 1) * 0.05f;
            double updateFlops = (double)rows * columns * columns;
            if (parts)
            {
                var damped = (double[])h.Clone();
                double mean = 0;
                for (int i = 0; i < columns; i++) mean += h[(long)i * columns + i] / columns;
                for (int i = 0; i < columns; i++) damped[(long)i * columns + i] += 0.01 * mean;
                var (cholesky, choleskyCpu) = Timed(() => CholeskyInverse.UpperFactorOfInverse(damped, columns, pool));
                Print(new { step = "cholesky-inverse", matrix = name, columns, seconds = Math.Round(cholesky, 3), cpuSeconds = Math.Round(choleskyCpu, 3), isa, threads });
            }
            var variants = parts
                ? new[] { ("plain", new GptqOptions()), ("clip", new GptqOptions { ClipSearch = true }), ("recipe", GptqLayerRecipe.Options(activationOrder: false)) }
                : new[] { ("recipe", GptqLayerRecipe.Options(activationOrder: false)) };
            foreach (var (variant, options) in variants)
            {
                var (gptq, cpu) = Timed(() => GptqQuantizer.QuantizeInPlace((float[])weights.Clone(), rows, columns, (double[])h.Clone(), new Int4Format(128, false),
                    ActivationMode.Int8, pool, options).Dispose());
                if (variant == "recipe") (gptqSeconds, gptqCpuSeconds) = (gptqSeconds + gptq, gptqCpuSeconds + cpu);
                Print(new { step = "gptq-" + variant, matrix = name, rows, columns, seconds = Math.Round(gptq, 3), cpuSeconds = Math.Round(cpu, 3),
                    updateGflops = Math.Round(updateFlops / gptq / 1e9, 1), isa, threads });
            }
        }
        Print(new { step = "layer", tokens, width, feedForward, keyValue, sumsSeconds = Math.Round(sumsSeconds, 2), sumsCpuSeconds = Math.Round(sumsCpuSeconds, 2),
            gptqSeconds = Math.Round(gptqSeconds, 2), gptqCpuSeconds = Math.Round(gptqCpuSeconds, 2), isa, threads });
    }

    /// <summary>
    /// Wall seconds and the process's CPU seconds (all threads) of <paramref name="work"/>. On a machine shared with
    /// other work the wall time includes waits for a CPU; the CPU time does not (it still varies with what shares the caches).
    /// </summary>
    private static (double Wall, double Cpu) Timed(Action work)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        long start = Stopwatch.GetTimestamp();
        work();
        double wall = Stopwatch.GetElapsedTime(start).TotalSeconds;
        process.Refresh();
        return (wall, (process.TotalProcessorTime - cpu).TotalSeconds);
    }
}
