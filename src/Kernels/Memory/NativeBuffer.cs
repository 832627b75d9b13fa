using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

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
    private NativeAllocation _memory; // default once disposed

    /// <param name="zero">
    /// Whether the buffer must start as zeros. From <see cref="LargePages.MinimumBytes"/> up the memory comes straight
    /// from the system's pages where it can, which are zeros already: no clearing pass (<see cref="NativeAllocation"/>).
    /// </param>
    public NativeBuffer(long byteLength, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        ByteLength = byteLength;
        _memory = NativeAllocation.Allocate(byteLength, Alignment, zero);
        Interlocked.Add(ref s_totalAllocatedBytes, byteLength);
    }

    public long ByteLength { get; }

    /// <summary>
    /// Bytes ever allocated by native buffers in this process (never decreases): the managed heap's counters do not see
    /// this memory, so checks that a load allocates no more than its file justifies add this figure to theirs.
    /// </summary>
    public static long TotalAllocatedBytes => Interlocked.Read(ref s_totalAllocatedBytes);

    /// <summary>
    /// The first byte. Inlined where it is read: a load's per-block loops read it several times a block, and as a call
    /// (the throw kept it from being inlined) it took 4-6% of a 7B Q4_K_M load's CPU time (perf, AMD Zen 5 guest).
    /// </summary>
    public void* Pointer
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            void* pointer = _memory.Pointer;
            if (pointer == null) ThrowDisposed();
            return pointer;
        }
    }

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDisposed() => throw new ObjectDisposedException(nameof(NativeBuffer));

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
        if (_memory.Pointer != null)
        {
            _memory.Free();
            _memory = default;
        }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Dispose();
}
