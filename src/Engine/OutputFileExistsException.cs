namespace LlmCpu.Engine;

/// <summary>An output file exists and the caller did not allow replacing it.</summary>
public sealed class OutputFileExistsException(string path)
    : IOException($"'{path}' already exists; allow overwriting to replace it.")
{
    public string FilePath { get; } = path;
}

/// <summary>
/// An output file cannot be written: its folder is missing, the path is a folder, access is denied, the disk is full.
/// The message names the destination, never the temporary file the data was going to first.
/// </summary>
public sealed class OutputWriteException(string path, string message, Exception? inner = null) : IOException(message, inner)
{
    public string FilePath { get; } = path;
}
