using System.Buffers.Binary;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>What a field of a GGUF file holds, for choosing damage that means something to it.</summary>
public enum GgufFieldKind
{
    Header,
    Count,
    Length,
    TypeTag,
    Scalar,
    StringBytes,
    Dimension,
    TensorType,
    TensorOffset,
}

/// <summary>One field of a valid GGUF file: where it is, how wide, and what it means.</summary>
public sealed record GgufField(int Offset, int Width, GgufFieldKind Kind, string Name);

/// <summary>
/// Walks a valid GGUF file written independently of the engine's reader (the specification's layout: header, key-value
/// pairs, tensor infos, aligned data) and lists every field, so damage can be aimed at counts, lengths, dimensions,
/// type tags and offsets, and a file can be cut at every boundary between fields.
/// </summary>
public sealed class GgufFieldMap
{
    private readonly byte[] _bytes;
    private int _at;

    private GgufFieldMap(byte[] bytes) => _bytes = bytes;

    public List<GgufField> Fields { get; } = [];

    /// <summary>End of the tensor infos: the data section starts at the next multiple of the alignment.</summary>
    public int InfoEnd { get; private set; }

    /// <summary>Start and end, relative to the data section, of each tensor's data.</summary>
    public List<(string Name, long Offset)> TensorOffsets { get; } = [];

    public static GgufFieldMap Of(byte[] bytes)
    {
        var map = new GgufFieldMap(bytes);
        map.Walk();
        return map;
    }

    /// <summary>Every offset where one field ends and the next begins, up to the end of the tensor infos.</summary>
    public IEnumerable<int> Boundaries() => Fields.SelectMany(f => new[] { f.Offset, f.Offset + f.Width }).Append(InfoEnd).Distinct().Order();

    private void Walk()
    {
        Field(4, GgufFieldKind.Header, "magic");
        Field(4, GgufFieldKind.Header, "version");
        ulong tensors = U64(GgufFieldKind.Count, "tensor_count");
        ulong pairs = U64(GgufFieldKind.Count, "metadata_kv_count");
        for (ulong i = 0; i < pairs; i++)
        {
            string key = String($"key #{i}");
            uint type = U32(GgufFieldKind.TypeTag, key + " type");
            Value(type, key);
        }
        for (ulong i = 0; i < tensors; i++)
        {
            string name = String($"tensor #{i} name");
            uint dims = U32(GgufFieldKind.Count, name + " dimension count");
            for (uint d = 0; d < dims; d++) U64(GgufFieldKind.Dimension, $"{name} ne[{d}]");
            U32(GgufFieldKind.TensorType, name + " type");
            long offset = (long)U64(GgufFieldKind.TensorOffset, name + " offset");
            TensorOffsets.Add((name, offset));
        }
        InfoEnd = _at;
    }

    private void Value(uint type, string name)
    {
        switch (type)
        {
            case 8: String(name); break;
            case 9:
                uint element = U32(GgufFieldKind.TypeTag, name + " element type");
                ulong count = U64(GgufFieldKind.Count, name + " count");
                for (ulong i = 0; i < count; i++) Value(element, $"{name}[{i}]");
                break;
            default:
                int width = type switch { 0 or 1 or 7 => 1, 2 or 3 => 2, 4 or 5 or 6 => 4, _ => 8 };
                Field(width, GgufFieldKind.Scalar, name);
                break;
        }
    }

    private string String(string name)
    {
        int length = (int)U64(GgufFieldKind.Length, name + " length");
        string text = System.Text.Encoding.UTF8.GetString(_bytes, _at, length);
        if (length > 0) Field(length, GgufFieldKind.StringBytes, name);
        return text;
    }

    private uint U32(GgufFieldKind kind, string name)
    {
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(_at));
        Field(4, kind, name);
        return value;
    }

    private ulong U64(GgufFieldKind kind, string name)
    {
        ulong value = BinaryPrimitives.ReadUInt64LittleEndian(_bytes.AsSpan(_at));
        Field(8, kind, name);
        return value;
    }

    private void Field(int width, GgufFieldKind kind, string name)
    {
        Fields.Add(new GgufField(_at, width, kind, name));
        _at += width;
    }
}
