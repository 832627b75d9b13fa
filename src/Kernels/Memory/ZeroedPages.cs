using System.Runtime.InteropServices;

namespace LlmCpu.Kernels.Memory;

/// <summary>
/// Memory straight from the system's page allocator (Linux anonymous mmap), which hands out pages filled with zeros:
/// a large buffer that must start zeroed needs no clearing pass of its own. Cleared with memset, every page of a
/// loading model was written twice, once by the system on the first touch and once by the clear; a Llama-2-7B-shaped
/// Q4_K_M GGUF spent 9% of its load's CPU time in that memset (perf, AMD Zen 5 guest). Elsewhere, or where the system
/// refuses, <see cref="TryMap"/> says no and the caller allocates and clears as before.
/// </summary>
internal static unsafe class ZeroedPages
{
    /// <summary>
    /// Zeroed buffers from this size up are mapped rather than allocated and cleared. A loading Q4_K model's scale
    /// tables (a few hundred KB to a few MB per matrix) were cleared with memset, then written: 4-5% of a 7B Q4_K_M
    /// load's CPU time in that memset (perf, AMD Zen 5 guest). Below this, a mapping's system call and its own pages
    /// cost more than the clearing saves.
    /// </summary>
    public const long MinimumBytes = 64 * 1024;

    private const int ProtectRead = 1, ProtectWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;

    /// <summary>
    /// Maps <paramref name="bytes"/> zeroed bytes aligned to <paramref name="alignment"/> (a power of two, a multiple of
    /// the page size); returns the aligned start, and in <paramref name="mapping"/> and <paramref name="mappedBytes"/>
    /// what <see cref="Unmap"/> must be given. Null where the system has no such mapping or refuses it.
    /// </summary>
    public static void* TryMap(long bytes, nuint alignment, out nint mapping, out nuint mappedBytes)
    {
        mapping = 0;
        mappedBytes = 0;
        if (!OperatingSystem.IsLinux() || bytes <= 0 || (alignment & (alignment - 1)) != 0 || (long)alignment % Environment.SystemPageSize != 0)
            return null;
        nuint length = (nuint)bytes + alignment;
        nint start = mmap(0, length, ProtectRead | ProtectWrite, MapPrivate | MapAnonymous, -1, 0);
        if (start == -1) return null;
        mapping = start;
        mappedBytes = length;
        return (void*)((start + (nint)alignment - 1) & ~((nint)alignment - 1));
    }

    /// <summary>Returns a mapping <see cref="TryMap"/> made to the system.</summary>
    public static void Unmap(nint mapping, nuint mappedBytes) => _ = munmap(mapping, mappedBytes);

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap")]
    private static extern int munmap(nint address, nuint length);
}
