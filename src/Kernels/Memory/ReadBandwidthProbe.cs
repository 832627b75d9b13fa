using System.Diagnostics;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Kernels.Memory;

/// <summary>
/// Measures read bandwidth (<see cref="ReadBandwidth"/>) again and again over one buffer, written on the first
/// measurement and kept: a benchmark that sets each repetition against a read taken beside it pays the first touch of
/// half a gigabyte once, not per repetition. Cancellation is checked while the buffer is written and between reads,
/// so a stop waits for one read of the buffer at most (tens of milliseconds).
/// </summary>
public sealed unsafe class ReadBandwidthProbe(long bytes = ReadBandwidthProbe.DefaultBytes) : IDisposable
{
    /// <summary>512 MiB: larger than any last-level cache this runs on, so the figure is memory's, not a cache's.</summary>
    public const long DefaultBytes = 512L << 20;

    private readonly ReadBandwidth _reader = new();
    private NativeBuffer? _buffer;
    private bool _disposed;

    /// <summary>Where the buffer lies once written; 0 before (tests check that it is written once).</summary>
    internal nint BufferAddress => _buffer is null ? 0 : (nint)_buffer.Pointer;

    /// <summary>Median GB/s of <paramref name="rounds"/> reads of the buffer, after one read to warm up.</summary>
    public double MeasureGBps(WorkerPool pool, int rounds = 5, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        ObjectDisposedException.ThrowIf(_disposed, this);
        _buffer ??= ReadBandwidth.NewWrittenBuffer(bytes, cancellation);
        var region = ((nint)_buffer.Pointer, bytes);
        var samples = new double[rounds];
        for (int i = -1; i < rounds; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            long start = Stopwatch.GetTimestamp();
            _reader.Read(pool, region);
            if (i >= 0) samples[i] = bytes / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
        }
        Array.Sort(samples);
        return samples[rounds / 2];
    }

    public void Dispose()
    {
        _disposed = true;
        _buffer?.Dispose();
        _buffer = null;
    }
}
