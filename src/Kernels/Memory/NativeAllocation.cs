using System.Runtime.InteropServices;

namespace LlmCpu.Kernels.Memory;

/// <summary>
/// One aligned block of unmanaged memory and how to give it back. From <see cref="LargePages.MinimumBytes"/> up, and
/// from <see cref="ZeroedPages.MinimumBytes"/> up when it must start as zeros, it is the system's zero-filled pages
/// where the system gives them (<see cref="ZeroedPages"/>), so it needs no clearing pass; otherwise it comes from the
/// allocator and is cleared when asked. Large blocks are aligned to a large page and advised (<see cref="LargePages"/>).
/// A struct, so a pool of blocks (the KV cache's) allocates nothing managed per block; <see cref="NativeBuffer"/> is
/// the owning class around one.
/// </summary>
public readonly unsafe struct NativeAllocation
{
    private readonly nint _mapping;      // the system's mapping the block lies in, or 0 when it came from the allocator
    private readonly nuint _mappingBytes;

    private NativeAllocation(void* pointer, nint mapping, nuint mappingBytes)
    {
        Pointer = pointer;
        _mapping = mapping;
        _mappingBytes = mappingBytes;
    }

    /// <summary>The block's first byte; null for the default value.</summary>
    public void* Pointer { get; }

    /// <summary>
    /// <paramref name="bytes"/> bytes aligned to <paramref name="smallAlignment"/> (a large page when large), zeros when
    /// <paramref name="zero"/> is set.
    /// </summary>
    public static NativeAllocation Allocate(long bytes, nuint smallAlignment, bool zero)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var alignment = LargePages.AlignmentFor(bytes, smallAlignment);
        nint mapping = 0;
        nuint mappingBytes = 0;
        void* pointer = bytes >= LargePages.MinimumBytes || (zero && bytes >= ZeroedPages.MinimumBytes)
            ? ZeroedPages.TryMap(bytes, Math.Max(alignment, (nuint)Environment.SystemPageSize), out mapping, out mappingBytes)
            : null;
        if (pointer == null) pointer = NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), alignment);
        LargePages.Advise(pointer, bytes); // before the first touch, so the pages can be large from the start
        if (zero && mapping == 0) NativeMemory.Clear(pointer, (nuint)bytes);
        return new NativeAllocation(pointer, mapping, mappingBytes);
    }

    /// <summary>Gives the block back; the value must not be used or freed again afterwards.</summary>
    public void Free()
    {
        if (_mapping != 0) ZeroedPages.Unmap(_mapping, _mappingBytes);
        else if (Pointer != null) NativeMemory.AlignedFree(Pointer);
    }
}
