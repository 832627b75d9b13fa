using LlmCpu.Kernels.Memory;

namespace LlmCpu.Tests.Kernels.Memory;

/// <summary>
/// Large buffers come from the system's zero-filled pages, with no clearing pass of their own: they must still start as
/// zeros however the memory was used before, and go back to the system whole.
/// </summary>
public sealed unsafe class ZeroedPagesTests
{
    [Theory]
    [InlineData(2L << 20)]
    [InlineData((5L << 20) + 4321)]
    [InlineData(ZeroedPages.MinimumBytes)]          // mapped because it must start as zeros
    [InlineData(ZeroedPages.MinimumBytes - 64)]     // allocated and cleared
    [InlineData((700L << 10) + 17)]
    public void ALargeBufferStartsAsZerosAfterDirtyOnesWereFreed(long bytes)
    {
        // Buffers of the same size dirtied and freed first: an allocator that hands their memory out again, uncleared,
        // would show it here.
        for (int round = 0; round < 4; round++)
        {
            using (var dirty = new NativeBuffer(bytes, zero: false)) new Span<byte>(dirty.Pointer, (int)bytes).Fill(0xA5);
            using var buffer = new NativeBuffer(bytes, zero: true);
            Assert.True(new Span<byte>(buffer.Pointer, (int)bytes).IndexOfAnyExcept((byte)0) < 0, $"round {round}: a zeroed buffer held old bytes");
        }
    }

    [SkippableFact]
    public void AMappingIsAlignedZeroedAndOneRangeOfTheProcess()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Zero-filled pages are mapped from the system on Linux only.");
        const long bytes = (3L << 20) + 100;
        void* start = ZeroedPages.TryMap(bytes, (nuint)LargePages.PageBytes, out nint mapping, out nuint mapped);
        Assert.True(start != null);
        Assert.Equal(0, (long)start % LargePages.PageBytes);
        Assert.True((nint)start >= mapping && (long)start + bytes <= mapping + (long)mapped);
        var span = new Span<byte>(start, (int)bytes);
        Assert.True(span.IndexOfAnyExcept((byte)0) < 0);
        span.Fill(1);
        // The process's map lists the mapping as one range from its start (the system may merge it with a neighbour's).
        Assert.Contains(File.ReadLines("/proc/self/maps"), line => RangeHolds(line, mapping, (long)mapped));
        ZeroedPages.Unmap(mapping, mapped);
    }

    private static bool RangeHolds(string line, nint start, long length)
    {
        int dash = line.IndexOf('-'), space = line.IndexOf(' ');
        if (dash <= 0 || space <= dash) return false;
        long from = Convert.ToInt64(line[..dash], 16), to = Convert.ToInt64(line[(dash + 1)..space], 16);
        return from <= start && start + length <= to;
    }

    [Fact]
    public void AnAlignmentThatIsNotAWholePageIsRefused()
    {
        Assert.True(ZeroedPages.TryMap(4 << 20, 64, out nint mapping, out _) == null);
        Assert.Equal(0, mapping);
    }
}
