using System.IO.MemoryMappedFiles;

namespace LlmCpu.Engine.Formats;

/// <summary>A whole file mapped read-only into memory. Tensors point into it, so nothing is copied at load.</summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    public MappedFile(string path)
    {
        Path = path;
        Length = new FileInfo(path).Length;
        if (Length == 0) return;
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _pointer);
        _pointer += _view.PointerOffset;
    }

    public string Path { get; }

    public long Length { get; }

    public byte* Pointer => _pointer;

    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length) throw new ArgumentOutOfRangeException(nameof(offset));
        return new ReadOnlySpan<byte>(_pointer + offset, length);
    }

    /// <summary>
    /// Tells the kernel this process no longer needs the whole pages inside [start, start + length) of the mapping
    /// (Linux madvise MADV_DONTNEED; elsewhere nothing): they leave the process's resident set but stay in the page
    /// cache, and reading them again maps them back. Partial pages at either end are kept.
    /// </summary>
    public void ReleasePages(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || _pointer == null || length <= 0) return;
        long page = Environment.SystemPageSize;
        long first = ((long)start + page - 1) / page * page, last = ((long)start + length) / page * page;
        if (last > first) _ = NativeMethods.madvise((nint)first, (nuint)(last - first), NativeMethods.MadviseDontNeed);
    }

    private static class NativeMethods
    {
        public const int MadviseDontNeed = 4;

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int madvise(nint address, nuint length, int advice);
    }

    public void Dispose()
    {
        if (_view != null && _pointer != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
