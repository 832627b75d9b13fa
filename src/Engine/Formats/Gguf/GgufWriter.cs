namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Writes a GGUF v3 file: metadata key/values, tensor infos, then each tensor's data, aligned.
/// Metadata and tensor descriptions are collected first (they are small); the data is streamed at write time,
/// one tensor after another, through each tensor's <see cref="GgufTensorContent"/>, so a model of any size passes
/// through a few rows of memory. <see cref="WriteFile"/> writes to a temporary file beside the destination and
/// renames it only when everything is written, so a failure or a cancellation never leaves a partial output.
/// </summary>
public sealed class GgufWriter
{
    public const uint DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";

    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly List<GgufTensorLayout> _tensors = [];
    private readonly List<GgufTensorContent> _contents = [];
    private readonly HashSet<string> _tensorNames = new(StringComparer.Ordinal);
    private long _dataSize;

    public GgufWriter(uint alignment = DefaultAlignment)
    {
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > 1 << 20)
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "Alignment must be a power of two up to 1 MiB.");
        Alignment = alignment;
    }

    /// <summary>Tensor data offsets are multiples of this; written to the file as <c>general.alignment</c>.</summary>
    public uint Alignment { get; }

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata => _metadata;

    public IReadOnlyList<GgufTensorLayout> Tensors => _tensors;

    public void AddMetadata(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key == AlignmentKey && !(value.Type == GgufValueType.UInt32 && (uint)value.Value == Alignment))
            throw new ArgumentException($"{AlignmentKey} is set from the writer's alignment ({Alignment}) and must be a UInt32 equal to it.", nameof(value));
        if (!_keys.Add(key)) throw new ArgumentException($"Metadata key '{key}' was already added.", nameof(key));
        _metadata.Add(new(key, value));
    }

    /// <summary>Describes a tensor whose data <paramref name="content"/> will write; returns where it will lie.</summary>
    /// <param name="dimensions">Innermost first: a matrix of rows x columns is [columns, rows].</param>
    public GgufTensorLayout AddTensor(string name, GgmlType type, IReadOnlyList<long> dimensions, GgufTensorContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (!Enum.IsDefined(type)) throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml type.");
        var info = new GgufTensorLayout(name, type, dimensions, _dataSize);
        if (!_tensorNames.Add(name)) throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        _tensors.Add(info);
        _contents.Add(content);
        _dataSize = checked(_dataSize + Align(info.ByteSize));
        return info;
    }

    /// <summary>Writes the file at <paramref name="path"/> through a temporary file in the same folder.</summary>
    /// <exception cref="OutputFileExistsException">The file exists and <paramref name="overwrite"/> is not set.</exception>
    /// <exception cref="OutputWriteException">The destination cannot be written (missing folder, a folder, no access, disk full).</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing is left at <paramref name="path"/> or beside it.</exception>
    public void WriteFile(string path, bool overwrite = false, CancellationToken cancellation = default)
    {
        using var output = new TemporaryOutputFile(path, overwrite, FileAccess.Write, FileOptions.SequentialScan);
        try
        {
            WriteTo(output.Stream, cancellation);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw output.Describe(ex);
        }
        cancellation.ThrowIfCancellationRequested();
        output.Commit();
    }

    /// <summary>Writes the whole file to <paramref name="destination"/>, which need not be seekable.</summary>
    public void WriteTo(Stream destination, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        cancellation.ThrowIfCancellationRequested();
        byte[] header = EncodeHeader();
        destination.Write(header);
        WritePadding(destination, header.Length);

        for (int i = 0; i < _tensors.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var info = _tensors[i];
            var window = new TensorDataStream(destination, info);
            _contents[i](info, window, cancellation);
            if (window.Written != info.ByteSize)
                throw new InvalidOperationException($"Tensor '{info.Name}': {window.Written} bytes were written; it has {info.ByteSize}.");
            WritePadding(destination, info.ByteSize);
        }
        destination.Flush();
    }

    /// <summary>Bytes <see cref="WriteTo"/> will write.</summary>
    public long FileSize => Align(EncodeHeader().Length) + _dataSize;

    private byte[] EncodeHeader()
    {
        var metadata = _metadata.ToList();
        if (!_keys.Contains(AlignmentKey)) metadata.Add(new(AlignmentKey, GgufValue.UInt32(Alignment)));
        return GgufHeaderEncoder.Encode(metadata, _tensors);
    }

    private long Align(long size) => (size + Alignment - 1) / Alignment * Alignment;

    private void WritePadding(Stream destination, long size)
    {
        int padding = (int)(Align(size) - size);
        if (padding > 0) destination.Write(new byte[padding]);
    }

}
