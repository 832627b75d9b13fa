using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Kernels.Memory;

/// <summary>
/// Read bandwidth from memory as the kernels see it: a plain vector read of memory regions, split across a worker
/// pool's threads in 64 KiB units the way a GEMV splits its rows. A GEMV or a decode step that reads N bytes cannot
/// beat N / (this bandwidth); measured beside it, in the same run and on the same threads, the ratio says how close
/// a kernel is to the memory's limit on the machine as it is at that moment (shared machines drift).
/// </summary>
public sealed unsafe class ReadBandwidth : IRangeJob
{
    private const int Unit = 64 * 1024;

    private readonly List<(nint Start, long Length, long FirstUnit)> _regions = [];
    private long _units;
    private int _sink;

    /// <summary>Reads the regions once on the pool's threads.</summary>
    public void Read(WorkerPool pool, params (nint Start, long Length)[] regions)
    {
        _regions.Clear();
        _units = 0;
        foreach (var (start, length) in regions)
        {
            _regions.Add((start, length, _units));
            _units += (length + Unit - 1) / Unit;
        }
        pool.Run(this, checked((int)_units));
    }

    /// <summary>
    /// Median GB/s of <paramref name="rounds"/> reads of a fresh buffer of <paramref name="bytes"/> (by default
    /// <see cref="ReadBandwidthProbe.DefaultBytes"/>). A caller that measures more than once keeps a
    /// <see cref="ReadBandwidthProbe"/> instead, so the buffer is written once.
    /// </summary>
    public static double MeasureGBps(WorkerPool pool, long bytes = ReadBandwidthProbe.DefaultBytes, int rounds = 5,
        CancellationToken cancellation = default)
    {
        using var probe = new ReadBandwidthProbe(bytes);
        return probe.MeasureGBps(pool, rounds, cancellation);
    }

    /// <summary>
    /// A buffer with every byte written, so that every page is backed by memory of its own before the timing. Pages
    /// that are only allocated, or zeroed by the system, are not: until written, each reads as the one shared zero page,
    /// which stays in cache, and the figure would be the cache's (115 GB/s on a machine whose memory gives 20).
    /// Written in slices with a cancellation check between them: first touch of fresh pages is slow on some guests
    /// (half a gigabyte took over a second where the host zeroes pages as it backs them), and a stop must not wait.
    /// </summary>
    internal static NativeBuffer NewWrittenBuffer(long bytes, CancellationToken cancellation = default)
    {
        const long Slice = 16L << 20;
        var buffer = new NativeBuffer(bytes, zero: false);
        try
        {
            for (long offset = 0; offset < bytes; offset += Slice)
            {
                cancellation.ThrowIfCancellationRequested();
                NativeMemory.Fill((byte*)buffer.Pointer + offset, (nuint)Math.Min(Slice, bytes - offset), 0x5A);
            }
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        return buffer;
    }

    void IRangeJob.Execute(int begin, int end)
    {
        Vector256<int> a = default, b = default, c = default, d = default;
        foreach (var (regionStart, regionLength, firstUnit) in _regions)
        {
            long regionUnits = (regionLength + Unit - 1) / Unit;
            long from = Math.Max(begin, firstUnit), to = Math.Min(end, firstUnit + regionUnits);
            for (long unit = from; unit < to; unit++)
            {
                long offset = (unit - firstUnit) * Unit;
                byte* p = (byte*)regionStart + offset;
                long length = Math.Min(Unit, regionLength - offset);
                long i = 0;
                for (; i + 128 <= length; i += 128)
                {
                    a += Vector256.Load((int*)(p + i));
                    b += Vector256.Load((int*)(p + i + 32));
                    c += Vector256.Load((int*)(p + i + 64));
                    d += Vector256.Load((int*)(p + i + 96));
                }
                for (; i < length; i++) a += Vector256.Create((int)p[i]);
            }
        }
        // Kept so the JIT cannot drop the loads.
        Volatile.Write(ref _sink, Vector256.Sum(a + b + c + d));
    }
}
