using System.Text;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// The bytes of a GGUF v3 header: magic, version, counts, metadata key/values and tensor infos, all little-endian,
/// strings as a 64-bit byte length followed by UTF-8 without a terminator.
/// </summary>
internal static class GgufHeaderEncoder
{
    public const uint Version = 3;

    // "GGUF" as it appears in the file.
    private static ReadOnlySpan<byte> Magic => "GGUF"u8;

    public static byte[] Encode(IReadOnlyList<KeyValuePair<string, GgufValue>> metadata, IReadOnlyList<GgufTensorLayout> tensors)
    {
        using var buffer = new MemoryStream();
        // BinaryWriter is little-endian on every platform, as GGUF requires.
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Magic);
            writer.Write(Version);
            writer.Write((ulong)tensors.Count);
            writer.Write((ulong)metadata.Count);
            foreach (var (key, value) in metadata)
            {
                WriteString(writer, key);
                writer.Write((uint)value.Type);
                if (value.Type == GgufValueType.Array) WriteArray(writer, value);
                else WriteScalar(writer, value.Type, value.Value);
            }
            foreach (var tensor in tensors)
            {
                WriteString(writer, tensor.Name);
                writer.Write((uint)tensor.Dimensions.Count);
                foreach (long dimension in tensor.Dimensions) writer.Write((ulong)dimension);
                writer.Write((uint)tensor.Type);
                writer.Write((ulong)tensor.Offset);
            }
        }
        return buffer.ToArray();
    }

    private static void WriteArray(BinaryWriter writer, GgufValue value)
    {
        var elementType = value.ElementType;
        var items = (System.Array)value.Value;
        writer.Write((uint)elementType);
        writer.Write((ulong)items.LongLength);
        foreach (object? item in items) WriteScalar(writer, elementType, item!);
    }

    private static void WriteScalar(BinaryWriter writer, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.UInt8: writer.Write((byte)value); break;
            case GgufValueType.Int8: writer.Write((sbyte)value); break;
            case GgufValueType.UInt16: writer.Write((ushort)value); break;
            case GgufValueType.Int16: writer.Write((short)value); break;
            case GgufValueType.UInt32: writer.Write((uint)value); break;
            case GgufValueType.Int32: writer.Write((int)value); break;
            case GgufValueType.UInt64: writer.Write((ulong)value); break;
            case GgufValueType.Int64: writer.Write((long)value); break;
            case GgufValueType.Float32: writer.Write((float)value); break;
            case GgufValueType.Float64: writer.Write((double)value); break;
            // GGUF stores a bool as one byte, 0 or 1.
            case GgufValueType.Bool: writer.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.String: WriteString(writer, (string)value); break;
            default: throw new InvalidOperationException($"{type} is not a scalar GGUF type.");
        }
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }
}
