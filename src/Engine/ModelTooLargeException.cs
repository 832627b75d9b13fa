namespace LlmCpu.Engine;

/// <summary>
/// A model whose weights cannot fit in the memory available, refused before anything is allocated. Names the bytes the
/// load needs at least and the bytes available, so the user can choose a smaller precision or free memory.
/// </summary>
public sealed class ModelTooLargeException(string path, long neededBytes, long availableBytes)
    : Exception($"{System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path))}: loading needs at least {neededBytes / 1048576.0:F0} MiB " +
                $"of memory for its weights; {availableBytes / 1048576.0:F0} MiB are available. Free memory, or load at a smaller precision (-Precision Int4).")
{
    public string FilePath { get; } = path;

    public long NeededBytes { get; } = neededBytes;

    public long AvailableBytes { get; } = availableBytes;
}
