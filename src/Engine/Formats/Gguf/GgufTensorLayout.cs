namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// A tensor as a GGUF file describes it: name, ggml type, and dimensions innermost first (a matrix of
/// <c>rows</c> x <c>columns</c> is <c>[columns, rows]</c>), and where its data starts, relative to the data section.
/// </summary>
public sealed class GgufTensorLayout
{
    /// <summary>ggml keeps names in 64-byte buffers with a terminating zero.</summary>
    public const int MaxNameBytes = 63;

    /// <summary>ggml tensors have at most four dimensions.</summary>
    public const int MaxDimensions = 4;

    public GgufTensorLayout(string name, GgmlType type, IReadOnlyList<long> dimensions, long offset)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
            throw new ArgumentException($"Tensor name '{name}' is longer than {MaxNameBytes} UTF-8 bytes.", nameof(name));
        if (dimensions.Count is < 1 or > MaxDimensions)
            throw new ArgumentException($"Tensor '{name}' has {dimensions.Count} dimensions; GGUF allows 1 to {MaxDimensions}.", nameof(dimensions));
        if (dimensions.Any(d => d < 1))
            throw new ArgumentException($"Tensor '{name}' has a dimension below 1: [{string.Join(", ", dimensions)}].", nameof(dimensions));
        int perBlock = type.BlockSize();
        if (dimensions[0] % perBlock != 0)
            throw new ArgumentException($"Tensor '{name}': rows of {dimensions[0]} elements are not whole {type} blocks of {perBlock}.", nameof(dimensions));
        Name = name;
        Type = type;
        Dimensions = dimensions.ToArray();
        ElementCount = Dimensions.Aggregate(1L, (a, b) => checked(a * b));
        ByteSize = type.ByteCount(ElementCount);
        Offset = offset;
    }

    public string Name { get; }

    public GgmlType Type { get; }

    /// <summary>Innermost (contiguous) dimension first.</summary>
    public IReadOnlyList<long> Dimensions { get; }

    public long ElementCount { get; }

    /// <summary>Bytes of the tensor's data, without the padding that follows it.</summary>
    public long ByteSize { get; }

    /// <summary>Start of the data, relative to the start of the file's data section; a multiple of the alignment.</summary>
    public long Offset { get; }

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Dimensions)}] at {Offset}";
}
