using LlmCpu.Kernels.Memory;

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

    /// <summary>The process's resident bytes: the second field of /proc/self/statm, in pages.</summary>
    private static long ResidentBytes() =>
        long.Parse(File.ReadAllText("/proc/self/statm").Split(' ')[1]) * Environment.SystemPageSize;
}
