namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// A tensor in a GGUF file. <see cref="Dimensions"/> are ggml's ne[], innermost first: a weight matrix of
/// N output rows by K input columns is listed as [K, N], and its rows lie one after another, each
/// <see cref="RowBytes"/> long.
/// </summary>
public sealed unsafe class GgufTensorInfo
{
    internal GgufTensorInfo(string name, GgmlType type, long[] dimensions, long elementCount, long byteLength, ulong offset)
    {
        Name = name;
        Type = type;
        Dimensions = dimensions;
        ElementCount = elementCount;
        ByteLength = byteLength;
        Offset = offset;
    }

    public string Name { get; }

    public GgmlType Type { get; }

    /// <summary>ne[0], ne[1], ...: the first is the row length.</summary>
    public IReadOnlyList<long> Dimensions { get; }

    public long ElementCount { get; }

    public long ByteLength { get; }

    /// <summary>Offset of the tensor's bytes from the start of the data section, as the file states it.</summary>
    public ulong Offset { get; }

    /// <summary>Elements in a row (ne[0]).</summary>
    public long Columns => Dimensions.Count > 0 ? Dimensions[0] : 1;

    /// <summary>Rows: the product of all dimensions after the first.</summary>
    public long Rows => Columns == 0 ? 0 : ElementCount / Columns;

    public long RowBytes => Type.ByteCount(Columns);

    /// <summary>Start of the tensor's bytes in the mapped file; set once the offset has been checked, valid while the file is open.</summary>
    public byte* Data { get; internal set; }

    /// <summary>The bytes of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<byte> Row(long row)
    {
        if ((ulong)row >= (ulong)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        return new ReadOnlySpan<byte>(Data + row * RowBytes, checked((int)RowBytes));
    }

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Dimensions)}]";
}
