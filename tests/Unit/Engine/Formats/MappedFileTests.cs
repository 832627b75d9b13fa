using LlmCpu.Engine.Formats;

namespace LlmCpu.Tests.Engine.Formats;

/// <summary>A file's bytes at one address, mapped or read into memory: the same bytes either way.</summary>
public sealed unsafe class MappedFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-mapped-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteRandomFile(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        string path = Path.Combine(_dir, $"file-{length}.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4096 * 3 + 17)]
    [InlineData((5 << 20) + 3)] // large enough for large pages
    public void ReadIntoMemoryHoldsTheFilesBytesAsTheMapDoes(int length)
    {
        string path = WriteRandomFile(length);
        using var mapped = new MappedFile(path);
        using var read = new MappedFile(path, readIntoMemory: true);
        Assert.True(mapped.IsMapped);
        Assert.False(read.IsMapped);
        Assert.Equal(length, read.Length);
        Assert.True(new ReadOnlySpan<byte>(read.Pointer, length).SequenceEqual(File.ReadAllBytes(path)));
        Assert.True(new ReadOnlySpan<byte>(read.Pointer, length).SequenceEqual(new ReadOnlySpan<byte>(mapped.Pointer, length)));
    }

    [Fact]
    public void ReleasingPagesOfAFileReadIntoMemoryKeepsThem()
    {
        string path = WriteRandomFile(3 << 20);
        using var read = new MappedFile(path, readIntoMemory: true);
        read.ReleasePages(read.Pointer, read.Length);
        Assert.True(new ReadOnlySpan<byte>(read.Pointer, (int)read.Length).SequenceEqual(File.ReadAllBytes(path)));
    }

    [Fact]
    public void AReadIntoMemoryStopsWhenCancelled()
    {
        string path = WriteRandomFile(1 << 20);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => new MappedFile(path, readIntoMemory: true, cancelled.Token));
        // Mapping reads nothing, so there is nothing to stop.
        using var mapped = new MappedFile(path, readIntoMemory: false, cancelled.Token);
        Assert.Equal(1 << 20, mapped.Length);
    }

    [Fact]
    public void AnEmptyFileHasNoBytesEitherWay()
    {
        string path = Path.Combine(_dir, "empty.bin");
        File.WriteAllBytes(path, []);
        using var read = new MappedFile(path, readIntoMemory: true);
        Assert.Equal(0, read.Length);
    }
}
