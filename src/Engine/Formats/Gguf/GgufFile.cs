namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// A GGUF file (versions 2 and 3), memory-mapped: the header, the metadata, and where each tensor's bytes are.
/// Nothing the file says is trusted before it is checked: counts against the bytes left, string lengths against the
/// file, dimensions against overflow, offsets against alignment and the end of the file, type ids against the types
/// known. A failure is a <see cref="ModelFormatException"/> naming the file and the field.
/// </summary>
public sealed class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    public const int DefaultAlignment = 32;
    public const int MaxDimensions = 4;
    public const string AlignmentKey = "general.alignment";

    // Smallest encodings: a key-value pair is a key length, a type and a one-byte value; a tensor info is a name
    // length, a dimension count, a type and an offset. Counts that could not fit are refused before allocating.
    private const int MinimumKeyValueBytes = 8 + 4 + 1;
    private const int MinimumTensorInfoBytes = 8 + 4 + 4 + 8;
    private const int MaxKeyLength = 65535;

    private readonly MappedFile _file;
    private readonly List<GgufTensorInfo> _tensorList = [];
    private readonly Dictionary<string, GgufTensorInfo> _tensors = new(StringComparer.Ordinal);

    private GgufFile(MappedFile file)
    {
        _file = file;
        Metadata = new GgufMetadata(file.Path, new Dictionary<string, GgufValue>());
    }

    public string Path => _file.Path;

    public long FileLength => _file.Length;

    public int Version { get; private set; }

    public int Alignment { get; private set; } = DefaultAlignment;

    /// <summary>File offset of the data section, which tensor offsets are relative to.</summary>
    public long DataOffset { get; private set; }

    public GgufMetadata Metadata { get; private set; }

    /// <summary>Tensors in file order.</summary>
    public IReadOnlyList<GgufTensorInfo> TensorList => _tensorList;

    public IReadOnlyDictionary<string, GgufTensorInfo> Tensors => _tensors;

    public static GgufFile Open(string path)
    {
        var file = new MappedFile(path);
        var result = new GgufFile(file);
        try
        {
            result.Read();
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private void Read()
    {
        var reader = new GgufReader(_file);
        uint magic = reader.ReadUInt32("header magic");
        if (magic != Magic)
            throw new ModelFormatException(Path, "header magic", $"is 0x{magic:X8}, not \"GGUF\" (0x{Magic:X8}): not a GGUF file");
        uint version = reader.ReadUInt32("header version");
        if (version == 1)
            throw new ModelNotSupportedException(Path, "header version", "GGUF version 1 (32-bit counts) is not supported; versions 2 and 3 are. Convert the file with a current llama.cpp.");
        if (version is not (2 or 3))
        {
            if ((version & 0xFFFF) == 0 && (version >> 24) is 2 or 3)
                throw new ModelNotSupportedException(Path, "header version", "the file is a big-endian GGUF; only little-endian files are supported");
            throw new ModelFormatException(Path, "header version", $"{version} is not a GGUF version this reader knows (2, 3)");
        }
        Version = (int)version;

        ulong tensorCount = reader.ReadUInt64("header tensor_count");
        ulong keyValueCount = reader.ReadUInt64("header metadata_kv_count");
        // Both counts are checked against the bytes left before either is used: a tensor info and a key-value pair
        // each take a known minimum of bytes.
        reader.CheckCount(tensorCount, MinimumTensorInfoBytes, "header tensor_count");
        int kvCount = reader.CheckCount(keyValueCount, MinimumKeyValueBytes, "header metadata_kv_count");

        ReadMetadata(reader, kvCount);
        int count = reader.CheckCount(tensorCount, MinimumTensorInfoBytes, "header tensor_count");
        Alignment = ReadAlignment();
        for (int i = 0; i < count; i++) ReadTensorInfo(reader, i);

        long end = reader.Position;
        long padded = (end + Alignment - 1) / Alignment * Alignment;
        DataOffset = padded;
        if (_tensorList.Count > 0 && padded > _file.Length)
            throw new ModelFormatException(Path, "data section", $"starts at byte {padded}, past the end of the {_file.Length}-byte file (truncated?)");
        foreach (var tensor in _tensorList) PlaceTensor(tensor);
    }

    private void ReadMetadata(GgufReader reader, int count)
    {
        var values = new Dictionary<string, GgufValue>(Math.Min(count, 1024), StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string key = reader.ReadString($"metadata #{i} key", strict: true, MaxKeyLength);
            string field = GgufMetadata.Field(key);
            var type = GgufValueReader.ReadType(reader, field);
            var value = GgufValueReader.Read(reader, type, field);
            if (!values.TryAdd(key, value)) throw new ModelFormatException(Path, field, "appears more than once");
        }
        Metadata = new GgufMetadata(Path, values);
    }

    private int ReadAlignment()
    {
        var value = Metadata.Get(AlignmentKey);
        if (value == null) return DefaultAlignment;
        string field = GgufMetadata.Field(AlignmentKey);
        if (value.Value is not uint alignment) throw new ModelFormatException(Path, field, $"is {value.Type}, expected UInt32");
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > 1 << 20)
            throw new ModelFormatException(Path, field, $"{alignment} is not a power of two up to 1048576");
        return (int)alignment;
    }

    private void ReadTensorInfo(GgufReader reader, int index)
    {
        string name = reader.ReadString($"tensor #{index} name", strict: true, MaxKeyLength);
        string field = $"tensor '{name}'";
        if (_tensors.ContainsKey(name)) throw new ModelFormatException(Path, field, "appears more than once");

        uint dimensionCount = reader.ReadUInt32(field + " dimensions");
        if (dimensionCount > MaxDimensions)
            throw new ModelFormatException(Path, field + " dimensions", $"{dimensionCount} dimensions; at most {MaxDimensions} are allowed");
        var dimensions = new long[dimensionCount];
        long elements = 1;
        for (int d = 0; d < dimensionCount; d++)
        {
            ulong size = reader.ReadUInt64(field + " dimensions");
            if (size > long.MaxValue) throw new ModelFormatException(Path, field + " dimensions", $"ne[{d}] = {size} is out of range");
            dimensions[d] = (long)size;
            try { elements = checked(elements * (long)size); }
            catch (OverflowException) { throw new ModelFormatException(Path, field + " dimensions", $"[{string.Join(", ", dimensions.Take(d + 1))}] element count overflows"); }
        }

        uint typeId = reader.ReadUInt32(field + " type");
        var type = (GgmlType)typeId;
        if (!GgmlTypeInfo.TryGetBlock(type, out int blockSize, out int blockBytes))
            throw new ModelNotSupportedException(Path, field + " type", $"ggml type id {typeId} is not a type this reader knows");
        long columns = dimensionCount > 0 ? dimensions[0] : 1;
        if (columns % blockSize != 0)
            throw new ModelFormatException(Path, field + " dimensions", $"row length ne[0] = {columns} is not a multiple of {type}'s block size {blockSize}");
        long byteLength;
        try { byteLength = checked(elements / blockSize * blockBytes); }
        catch (OverflowException) { throw new ModelFormatException(Path, field + " dimensions", "byte size overflows"); }

        ulong offset = reader.ReadUInt64(field + " offset");
        var tensor = new GgufTensorInfo(name, type, dimensions, elements, byteLength, offset);
        _tensorList.Add(tensor);
        _tensors.Add(name, tensor);
    }

    private unsafe void PlaceTensor(GgufTensorInfo tensor)
    {
        string field = $"tensor '{tensor.Name}' offset";
        if (tensor.Offset % (ulong)Alignment != 0)
            throw new ModelFormatException(Path, field, $"{tensor.Offset} is not a multiple of the alignment {Alignment}");
        ulong dataLength = (ulong)(_file.Length - DataOffset);
        if (tensor.Offset > dataLength || (ulong)tensor.ByteLength > dataLength - tensor.Offset)
            throw new ModelFormatException(Path, field, $"{tensor.Offset} + {tensor.ByteLength} bytes runs past the end of the {dataLength}-byte data section (truncated?)");
        tensor.Data = _file.Pointer + DataOffset + (long)tensor.Offset;
    }

    /// <summary>
    /// Drops the pages of tensor <paramref name="name"/> from this process's resident memory once its data has been
    /// copied elsewhere (they stay in the page cache, and a later read maps them back), so a load that repacks a
    /// model does not hold the file and the repacked copy at once.
    /// </summary>
    public unsafe void ReleaseTensorPages(string name)
    {
        if (_tensors.TryGetValue(name, out var tensor) && tensor.Data != null) _file.ReleasePages(tensor.Data, tensor.ByteLength);
    }

    public void Dispose() => _file.Dispose();
}
