using LlmCpu.Kernels.Memory;

namespace LlmCpu.Tests.Kernels.Memory;

/// <summary>Large weight buffers ask for large pages: aligned to one, and advised so the system can back them with it.</summary>
public sealed unsafe class LargePagesTests
{
    [SkippableFact]
    public void ALargeBufferIsAlignedToALargePageAndAdvised()
    {
        Skip.IfNot(LargePages.Available, "This system gives no large pages on request (not Linux, or transparent huge pages are \"never\").");
        using var buffer = new NativeBuffer(3 * LargePages.PageBytes);
        Assert.Equal(0, (long)buffer.Pointer % LargePages.PageBytes);
        // The kernel lists the advice as the flag "hg" of the mapping that holds the buffer.
        Assert.Contains("hg", MappingFlags((nint)buffer.Pointer));
    }

    [SkippableFact]
    public void ABufferOfOneLargePageAndAPartIsAdvised()
    {
        // A small model's query/key/value codes (2.6 MB for TinyLlama-1.1B): one whole large page inside it.
        Skip.IfNot(LargePages.Available, "This system gives no large pages on request (not Linux, or transparent huge pages are \"never\").");
        using var buffer = new NativeBuffer(LargePages.PageBytes + LargePages.PageBytes / 4);
        Assert.Equal(0, (long)buffer.Pointer % LargePages.PageBytes);
        Assert.Contains("hg", MappingFlags((nint)buffer.Pointer));
    }

    [Fact]
    public void ASmallBufferKeepsTheCacheLineAlignmentAndNoAdvice()
    {
        using var buffer = new NativeBuffer(LargePages.MinimumBytes - 64);
        Assert.Equal(0, (long)buffer.Pointer % NativeBuffer.Alignment);
        Assert.Equal(NativeBuffer.Alignment, (int)LargePages.AlignmentFor(LargePages.MinimumBytes - 1, NativeBuffer.Alignment));
    }

    [Fact]
    public void AdviceLeavesTheContentsAlone()
    {
        using var buffer = new NativeBuffer(LargePages.MinimumBytes + 12345, zero: true);
        var bytes = new Span<byte>(buffer.Pointer, (int)buffer.ByteLength);
        Assert.True(bytes.IndexOfAnyExcept((byte)0) < 0);
        bytes.Fill(0x5A);
        LargePages.Advise(buffer.Pointer, buffer.ByteLength);
        Assert.True(bytes.IndexOfAnyExcept((byte)0x5A) < 0);
    }

    /// <summary>The VmFlags of the mapping in /proc/self/smaps that contains <paramref name="address"/>.</summary>
    private static string[] MappingFlags(nint address)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && IsHex(line.AsSpan(0, dash)))
            {
                long start = Convert.ToInt64(line[..dash], 16), end = Convert.ToInt64(line[(dash + 1)..space], 16);
                inside = address >= start && address < end;
            }
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
            {
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            }
        }
        throw new InvalidOperationException($"No mapping holds 0x{address:x}.");
    }

    private static bool IsHex(ReadOnlySpan<char> text)
    {
        foreach (char c in text) if (!char.IsAsciiHexDigit(c)) return false;
        return text.Length > 0;
    }
}
