using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text.Json;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Plain commands that print one JSON object per line: quick figures measured side by side in one run, for notes
/// and ops checks. (BenchmarkDotNet's jobs, one per instruction set, are in <see cref="Int4GemvBenchmarks"/>.)
/// </summary>
public static unsafe class FigureCommands
{
    private static void Print(object figure) => Console.WriteLine(JsonSerializer.Serialize(figure));

    /// <summary>INT4 x INT8 GEMV (one token) on 4096 x 11008, group sizes 32 and 128, at 1 and 2 threads; with this run's read bandwidth.</summary>
    public static void Gemv(int rounds)
    {
        var bandwidth = new Dictionary<int, double>();
        foreach (int threads in new[] { 1, 2 }) bandwidth[threads] = MeasureReadBandwidth(threads);
        foreach (int groupSize in new[] { 32, 128 })
        {
            using var matrix = BenchMatrices.RandomInt4(BenchMatrices.Outputs, BenchMatrices.Inputs, new Int4Format(groupSize, false));
            var x = BenchMatrices.RandomActivations(1, BenchMatrices.Inputs);
            foreach (int threads in new[] { 1, 2 })
            {
                double seconds = TimeMultiply(matrix, x, 1, threads, rounds);
                Print(new
                {
                    kernel = "int4-gemv",
                    activations = "int8",
                    groupSize,
                    threads,
                    bytes = matrix.ByteSize,
                    seconds,
                    isa = KernelDispatch.Best.ToString(),
                    gbPerSecond = Math.Round(matrix.ByteSize / seconds / 1e9, 2),
                    readBandwidthGbPerSecond = Math.Round(bandwidth[threads], 2),
                    fractionOfBandwidth = Math.Round(matrix.ByteSize / seconds / 1e9 / bandwidth[threads], 3),
                });
            }
        }
    }

    /// <summary>INT4 x INT8 GEMM for 512 tokens on the same shapes.</summary>
    public static void Gemm(int rounds, int tokens = 512)
    {
        foreach (int groupSize in new[] { 32, 128 })
        {
            using var matrix = BenchMatrices.RandomInt4(BenchMatrices.Outputs, BenchMatrices.Inputs, new Int4Format(groupSize, false));
            var x = BenchMatrices.RandomActivations(tokens, BenchMatrices.Inputs);
            foreach (int threads in new[] { 1, 2 })
            {
                double seconds = TimeMultiply(matrix, x, tokens, threads, rounds);
                Print(new
                {
                    kernel = "int4-gemm",
                    activations = "int8",
                    groupSize,
                    threads,
                    tokens,
                    bytes = matrix.ByteSize,
                    seconds,
                    isa = KernelDispatch.Best.ToString(),
                    gops = Math.Round(2.0 * matrix.Rows * matrix.Columns * tokens / seconds / 1e9, 1),
                });
            }
        }
    }

    /// <summary>Cost of one hand-off to the worker pool (an empty job), median over many dispatches.</summary>
    public static void HandOff()
    {
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new WorkerPool(threads);
            pool.MeasureHandOffSeconds(2000);
            Print(new { kernel = "pool-handoff", threads, seconds = pool.MeasureHandOffSeconds(20000) });
        }
    }

    private static double TimeMultiply(WeightMatrix matrix, float[] x, int tokens, int threads, int rounds)
    {
        using var pool = new WorkerPool(threads);
        using var runner = new MatMulRunner(pool);
        var y = new float[tokens * matrix.Rows];
        var samples = new double[rounds];
        fixed (float* px = x)
        fixed (float* py = y)
        {
            for (int i = 0; i < Math.Min(5, rounds); i++) runner.Multiply(matrix, px, py, tokens);
            for (int i = 0; i < rounds; i++)
            {
                long start = Stopwatch.GetTimestamp();
                runner.Multiply(matrix, px, py, tokens);
                samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }
        Array.Sort(samples);
        return samples[rounds / 2];
    }

    /// <summary>Read bandwidth from memory: summing a 1 GiB buffer split across the threads, best of 5.</summary>
    public static double MeasureReadBandwidth(int threads)
    {
        const long bytes = 1L << 30;
        using var buffer = new NativeBuffer(bytes);
        // Touch every page, so the measurement reads memory rather than the shared zero page.
        for (long offset = 0; offset < bytes; offset += 1 << 24) new Span<byte>((byte*)buffer.Pointer + offset, 1 << 24).Fill(1);
        using var pool = new WorkerPool(threads);
        var job = new SumJob((float*)buffer.Pointer, bytes / sizeof(float), threads);
        double best = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.Run(job, threads);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return bytes / best / 1e9;
    }

    private sealed class SumJob(float* data, long count, int parts) : IRangeJob
    {
        public float Sink;

        public void Execute(int begin, int end)
        {
            for (int part = begin; part < end; part++)
            {
                long start = count * part / parts, stop = count * (part + 1) / parts;
                float sum = 0;
                for (long offset = start; offset < stop; offset += 1 << 20)
                    sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(data + offset, (int)Math.Min(1 << 20, stop - offset)));
                Sink = sum;
            }
        }
    }
}
