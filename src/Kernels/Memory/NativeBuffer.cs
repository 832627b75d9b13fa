using System.Runtime.InteropServices;

namespace LlmCpu.Kernels.Memory;

/// <summary>
/// A block of unmanaged memory aligned to 64 bytes (one cache line, one 512-bit vector); a large one is aligned to a
/// large page and asks for large pages (<see cref="LargePages"/>).
/// Kernels take raw pointers so that weights can live here or in a memory-mapped file alike,
/// and so that worker threads can share them without pinning.
/// </summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    public const int Alignment = 64;
    private static long s_totalAllocatedBytes;
    private void* _pointer;
    private nint _mapping;        // the system's mapping this buffer lies in, or 0 when it came from the allocator
    private nuint _mappingBytes;

    /// <param name="zero">
    /// Whether the buffer must start as zeros. From <see cref="LargePages.MinimumBytes"/> up the memory comes straight
    /// from the system's pages where it can (<see cref="ZeroedPages"/>), which are zeros already: no clearing pass.
    /// </param>
    public NativeBuffer(long byteLength, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        ByteLength = byteLength;
        var alignment = LargePages.AlignmentFor(byteLength, Alignment);
        if (byteLength >= LargePages.MinimumBytes)
            _pointer = ZeroedPages.TryMap(byteLength, Math.Max(alignment, (nuint)Environment.SystemPageSize), out _mapping, out _mappingBytes);
        if (_pointer == null) _pointer = NativeMemory.AlignedAlloc((nuint)Math.Max(byteLength, 1), alignment);
        LargePages.Advise(_pointer, byteLength); // before the first touch, so the pages can be large from the start
        Interlocked.Add(ref s_totalAllocatedBytes, byteLength);
        if (zero && _mapping == 0) NativeMemory.Clear(_pointer, (nuint)byteLength);
    }

    public long ByteLength { get; }

    /// <summary>
    /// Bytes ever allocated by native buffers in this process (never decreases): the managed heap's counters do not see
    /// this memory, so checks that a load allocates no more than its file justifies add this figure to theirs.
    /// </summary>
    public static long TotalAllocatedBytes => Interlocked.Read(ref s_totalAllocatedBytes);

    public void* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException(nameof(NativeBuffer));

    public static NativeBuffer ForFloats(long count) => new(checked(count * sizeof(float)));

    public float* Floats => (float*)Pointer;

    public Span<T> AsSpan<T>(long offsetElements, int length) where T : unmanaged
    {
        if (offsetElements < 0 || length < 0 || (offsetElements + length) * sizeof(T) > ByteLength)
            throw new ArgumentOutOfRangeException(nameof(length));
        return new Span<T>((T*)Pointer + offsetElements, length);
    }

    public void Dispose()
    {
        if (_pointer != null)
        {
            if (_mapping != 0) ZeroedPages.Unmap(_mapping, _mappingBytes);
            else NativeMemory.AlignedFree(_pointer);
            _pointer = null;
            _mapping = 0;
        }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Dispose();
}
