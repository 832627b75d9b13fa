namespace LlmCpu.Engine;

/// <summary>An output file exists and the caller did not allow replacing it.</summary>
public sealed class OutputFileExistsException(string path)
    : IOException($"'{path}' already exists; allow overwriting to replace it.")
{
    public string FilePath { get; } = path;
}
