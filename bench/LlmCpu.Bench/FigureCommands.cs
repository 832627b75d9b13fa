using System.Diagnostics;
using System.Runtime.Intrinsics;
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

    /// <summary>Weights a memory-bound figure cycles through: well past a 32 MiB last-level cache.</summary>
    private const long BeyondCacheBytes = 96L << 20;

    /// <summary>
    /// INT4 x INT8 GEMV (one token) on 4096 x 11008, group sizes 32 and 128, at 1 and 2 threads, against this machine's
    /// read bandwidth measured side by side: rounds alternate a plain read of one copy of the matrix's bytes (vector
    /// loads and integer adds, split across the same threads) with a GEMV on another copy. The copies together
    /// exceed the last-level cache, so both read memory, as decoding does with a model far larger than any cache.
    /// The fraction is the median of the rounds' ratios, so a slow spell on a shared machine slows both sides.
    /// </summary>
    public static void Gemv(int rounds)
    {
        foreach (int groupSize in new[] { 32, 128 })
        {
            using var matrix = BenchMatrices.RandomInt4(BenchMatrices.Outputs, BenchMatrices.Inputs, new Int4Format(groupSize, false));
            var buffers = new List<NativeBuffer>();
            var copies = BenchMatrices.CopiesBeyond(matrix, BeyondCacheBytes, buffers);
            var x = BenchMatrices.RandomActivations(1, BenchMatrices.Inputs);
            foreach (int threads in new[] { 1, 2 })
            {
                var (seconds, readSeconds, ratio) = TimeAgainstReads(copies, x, threads, rounds);
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
                    readBandwidthGbPerSecond = Math.Round(matrix.ByteSize / readSeconds / 1e9, 2),
                    fractionOfBandwidth = Math.Round(ratio, 3),
                    copies = copies.Count,
                });
            }
            foreach (var buffer in buffers) buffer.Dispose();
        }
    }

    /// <summary>Medians of: GEMV seconds, seconds to read the same bytes, and the per-round ratio read / GEMV.</summary>
    private static (double Seconds, double ReadSeconds, double Ratio) TimeAgainstReads(List<Int4Matrix> copies, float[] x, int threads, int rounds)
    {
        using var pool = new WorkerPool(threads);
        using var runner = new MatMulRunner(pool);
        var reader = new ReadBandwidth();
        var y = new float[copies[0].Rows];
        var gemv = new double[rounds];
        var read = new double[rounds];
        var ratio = new double[rounds];
        fixed (float* px = x)
        fixed (float* py = y)
        {
            for (int i = -3; i < rounds; i++)
            {
                var readCopy = copies[(2 * i + 6) % copies.Count];
                var gemvCopy = copies[(2 * i + 7) % copies.Count];
                long start = Stopwatch.GetTimestamp();
                var (quants, scales, _) = readCopy.RawArrays;
                reader.Read(pool, (quants, readCopy.QuantBytes), (scales, readCopy.ScaleBytes));
                double r = Stopwatch.GetElapsedTime(start).TotalSeconds;
                start = Stopwatch.GetTimestamp();
                runner.Multiply(gemvCopy, px, py, 1);
                double g = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (i < 0) continue; // warm-up
                read[i] = r;
                gemv[i] = g;
                ratio[i] = r / g;
            }
        }
        return (Median(gemv), Median(read), Median(ratio));
    }

    private static double Median(double[] values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }

    /// <summary>
    /// INT4 x INT8 GEMV on a matrix small enough to stay in L2 (128 x 4096, under 300 KB), one thread: the kernel's arithmetic
    /// throughput with memory out of the way. When it is far above the read bandwidth, a GEMV below the bandwidth
    /// is waiting on loads, not on arithmetic.
    /// </summary>
    public static void GemvInCache(int rounds)
    {
        foreach (int groupSize in new[] { 32, 128 })
        {
            using var matrix = BenchMatrices.RandomInt4(128, BenchMatrices.Inputs, new Int4Format(groupSize, false));
            var x = BenchMatrices.RandomActivations(1, BenchMatrices.Inputs);
            double seconds = TimeMultiply(matrix, x, 1, 1, rounds * 100);
            Print(new
            {
                kernel = "int4-gemv-l2",
                activations = "int8",
                groupSize,
                threads = 1,
                bytes = matrix.ByteSize,
                seconds,
                isa = KernelDispatch.Best.ToString(),
                gbPerSecond = Math.Round(matrix.ByteSize / seconds / 1e9, 2),
            });
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

    /// <summary>
    /// INT4 x INT8 multiplication of a few tokens (a batched decode step) on one matrix shape, from memory (copies
    /// cycled past the last-level cache, as a model's layers are) and from cache (one copy again and again), at 1 and
    /// 2 threads: whether the batched step's matrices lose speed to memory or to the kernel.
    /// </summary>
    public static void GemmShape(int rows, int columns, int tokens, int groupSize, int rounds)
    {
        using var matrix = BenchMatrices.RandomInt4(rows, columns, new Int4Format(groupSize, false));
        var buffers = new List<NativeBuffer>();
        var copies = BenchMatrices.CopiesBeyond(matrix, BeyondCacheBytes, buffers);
        var x = BenchMatrices.RandomActivations(tokens, columns);
        double ops = 2.0 * rows * columns * tokens;
        foreach (int threads in new[] { 1, 2 })
        {
            foreach (var (source, set) in new[] { ("memory", copies), ("cache", new List<Int4Matrix> { matrix }) })
            {
                var samples = TimeSamples(set, x, tokens, threads, rounds);
                Print(new
                {
                    kernel = "int4-gemm-shape",
                    activations = "int8",
                    rows,
                    columns,
                    groupSize,
                    tokens,
                    threads,
                    source,
                    isa = KernelDispatch.Best.ToString(),
                    gopsMedian = Math.Round(ops / samples[rounds / 2] / 1e9, 1),
                    gopsBest = Math.Round(ops / samples[0] / 1e9, 1),
                    gbPerSecondMedian = Math.Round(matrix.ByteSize / samples[rounds / 2] / 1e9, 1),
                });
            }
        }
        foreach (var buffer in buffers) buffer.Dispose();
    }

    /// <summary>
    /// The INT4 x INT8 tile kernel's arithmetic throughput: a 256 x 2048 matrix (L2-resident), 64 tokens, one thread,
    /// symmetric groups of 32 (the layout ggml's Q4_0 loads into) and 128. Prints the fastest and the median round:
    /// on a machine shared with other work the fastest is the one least disturbed.
    /// </summary>
    public static void TileInCache(int rounds)
    {
        const int rows = 256, columns = 2048, tokens = 64;
        foreach (int groupSize in new[] { 32, 128 })
        {
            using var matrix = BenchMatrices.RandomInt4(rows, columns, new Int4Format(groupSize, false));
            var x = BenchMatrices.RandomActivations(tokens, columns);
            var samples = TimeSamples(matrix, x, tokens, threads: 1, rounds);
            double ops = 2.0 * rows * columns * tokens;
            Print(new
            {
                kernel = "int4-tile-l2",
                activations = "int8",
                groupSize,
                threads = 1,
                tokens,
                isa = KernelDispatch.Best.ToString(),
                gopsBest = Math.Round(ops / samples[0] / 1e9, 1),
                gopsMedian = Math.Round(ops / samples[rounds / 2] / 1e9, 1),
            });
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

    internal static double TimeMultiply(WeightMatrix matrix, float[] x, int tokens, int threads, int rounds) =>
        TimeMultiply([matrix], x, tokens, threads, rounds);

    /// <summary>Median seconds of one multiplication, call i using matrix i mod count.</summary>
    private static double TimeMultiply(IReadOnlyList<WeightMatrix> matrices, float[] x, int tokens, int threads, int rounds) =>
        TimeSamples(matrices, x, tokens, threads, rounds)[rounds / 2];

    private static double[] TimeSamples(WeightMatrix matrix, float[] x, int tokens, int threads, int rounds) =>
        TimeSamples([matrix], x, tokens, threads, rounds);

    /// <summary>Seconds of each multiplication, sorted, call i using matrix i mod count.</summary>
    private static double[] TimeSamples(IReadOnlyList<WeightMatrix> matrices, float[] x, int tokens, int threads, int rounds)
    {
        var matrix = matrices[0];
        using var pool = new WorkerPool(threads);
        using var runner = new MatMulRunner(pool);
        var y = new float[tokens * matrix.Rows];
        var samples = new double[rounds];
        fixed (float* px = x)
        fixed (float* py = y)
        {
            for (int i = 0; i < Math.Min(5, rounds); i++) runner.Multiply(matrices[i % matrices.Count], px, py, tokens);
            for (int i = 0; i < rounds; i++)
            {
                var next = matrices[i % matrices.Count];
                long start = Stopwatch.GetTimestamp();
                runner.Multiply(next, px, py, tokens);
                samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }
        Array.Sort(samples);
        return samples;
    }
}
