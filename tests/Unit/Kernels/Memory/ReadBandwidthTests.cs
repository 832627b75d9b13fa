using LlmCpu.Kernels.Memory;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Kernels.Memory;

/// <summary>
/// The read-bandwidth figure must come from memory: its buffer's pages must each be backed by memory of their own when
/// the timing starts, not mapped to the system's one zero page (which reads from cache at several times the speed).
/// </summary>
public sealed unsafe class ReadBandwidthTests
{
    [Fact]
    public void TheMeasurementBufferIsWrittenThroughout()
    {
        const long bytes = 16L << 20;
        using var buffer = ReadBandwidth.NewWrittenBuffer(bytes);
        var span = new Span<byte>(buffer.Pointer, (int)bytes);
        Assert.True(span.IndexOf((byte)0) < 0, "a byte of the buffer was never written");
    }

    [SkippableFact]
    public void TheMeasurementBufferIsResidentBeforeTheTiming()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Resident memory is read from /proc on Linux only.");
        const long bytes = 64L << 20;
        long before = ResidentBytes();
        using var buffer = ReadBandwidth.NewWrittenBuffer(bytes);
        long grown = ResidentBytes() - before;
        Assert.True(grown >= bytes * 9 / 10, $"resident memory grew by {grown} bytes for a {bytes}-byte buffer");
    }

    [Fact]
    public void AStopWhileTheBufferIsWrittenEndsTheWrite()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => ReadBandwidth.NewWrittenBuffer(64L << 20, cancelled.Token));
    }

    [Fact]
    public void AProbeWritesItsBufferOnceAndMeasuresAPositiveFigureEachTime()
    {
        const long bytes = 32L << 20;
        using var pool = new WorkerPool(1);
        using var probe = new ReadBandwidthProbe(bytes);
        Assert.Equal(0, probe.BufferAddress);
        double first = probe.MeasureGBps(pool, rounds: 1);
        nint buffer = probe.BufferAddress;
        double second = probe.MeasureGBps(pool, rounds: 3);
        Assert.True(first > 0 && second > 0 && double.IsFinite(first) && double.IsFinite(second), $"{first}, {second} GB/s");
        Assert.NotEqual(0, buffer);
        Assert.Equal(buffer, probe.BufferAddress);
    }

    [Fact]
    public void AStopBetweenReadsEndsTheMeasurement()
    {
        using var pool = new WorkerPool(1);
        using var probe = new ReadBandwidthProbe(1L << 20);
        probe.MeasureGBps(pool, rounds: 1);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => probe.MeasureGBps(pool, rounds: 5, cancellation: cancelled.Token));
    }

    /// <summary>The process's resident bytes: the second field of /proc/self/statm, in pages.</summary>
    private static long ResidentBytes() =>
        long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[1]) * Environment.SystemPageSize;
}
