using System.Runtime.InteropServices;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>Reads one typed metadata value, arrays (nested ones too) included, checking every count before allocating.</summary>
internal static class GgufValueReader
{
    // Real files nest at most one level (arrays of arrays are rare); the limit keeps a crafted file from
    // exhausting the stack with millions of 12-byte nested array headers.
    private const int MaxNesting = 8;

    // The largest arrays in real files are vocabularies and merge lists of a few hundred thousand entries. A cap far
    // above that keeps a damaged count that still fits inside a multi-gigabyte file from allocating gigabytes.
    public const int MaxArrayLength = 1 << 24;

    public static GgufValue Read(GgufReader reader, GgufValueType type, string field, int depth = 0)
    {
        switch (type)
        {
            case GgufValueType.UInt8: return new(type, reader.ReadByte(field));
            case GgufValueType.Int8: return new(type, (sbyte)reader.ReadByte(field));
            case GgufValueType.UInt16: return new(type, reader.ReadUInt16(field));
            case GgufValueType.Int16: return new(type, (short)reader.ReadUInt16(field));
            case GgufValueType.UInt32: return new(type, reader.ReadUInt32(field));
            case GgufValueType.Int32: return new(type, (int)reader.ReadUInt32(field));
            case GgufValueType.Float32: return new(type, BitConverter.UInt32BitsToSingle(reader.ReadUInt32(field)));
            case GgufValueType.UInt64: return new(type, reader.ReadUInt64(field));
            case GgufValueType.Int64: return new(type, (long)reader.ReadUInt64(field));
            case GgufValueType.Float64: return new(type, BitConverter.UInt64BitsToDouble(reader.ReadUInt64(field)));
            case GgufValueType.Bool: return new(type, ReadBool(reader, field));
            case GgufValueType.String: return new(type, reader.ReadString(field, strict: false));
            case GgufValueType.Array: return ReadArray(reader, field, depth);
            default: throw new ModelFormatException(reader.Path, field, $"value type {(uint)type} is not a GGUF type (0-12)");
        }
    }

    public static GgufValueType ReadType(GgufReader reader, string field)
    {
        uint id = reader.ReadUInt32(field + " type");
        var type = (GgufValueType)id;
        if (!type.IsDefined()) throw new ModelFormatException(reader.Path, field, $"value type {id} is not a GGUF type (0-12)");
        return type;
    }

    private static bool ReadBool(GgufReader reader, string field) => reader.ReadByte(field) switch
    {
        0 => false,
        1 => true,
        var b => throw new ModelFormatException(reader.Path, field, $"bool holds {b}, not 0 or 1"),
    };

    private static GgufValue ReadArray(GgufReader reader, string field, int depth)
    {
        if (depth >= MaxNesting) throw new ModelFormatException(reader.Path, field, $"arrays nest deeper than {MaxNesting} levels");
        uint elementId = reader.ReadUInt32(field + " element type");
        var elementType = (GgufValueType)elementId;
        if (!elementType.IsDefined()) throw new ModelFormatException(reader.Path, field, $"array element type {elementId} is not a GGUF type (0-12)");
        ulong declared = reader.ReadUInt64(field + " array length");
        int count = reader.CheckCount(declared, elementType.MinimumSize(), field + " array length");
        if (count > MaxArrayLength)
            throw new ModelFormatException(reader.Path, field + " array length", $"{count} elements exceed the limit of {MaxArrayLength}");
        object values = elementType switch
        {
            GgufValueType.UInt8 => ReadFixed<byte>(reader, count, field),
            GgufValueType.Int8 => ReadFixed<sbyte>(reader, count, field),
            GgufValueType.UInt16 => ReadFixed<ushort>(reader, count, field),
            GgufValueType.Int16 => ReadFixed<short>(reader, count, field),
            GgufValueType.UInt32 => ReadFixed<uint>(reader, count, field),
            GgufValueType.Int32 => ReadFixed<int>(reader, count, field),
            GgufValueType.Float32 => ReadFixed<float>(reader, count, field),
            GgufValueType.UInt64 => ReadFixed<ulong>(reader, count, field),
            GgufValueType.Int64 => ReadFixed<long>(reader, count, field),
            GgufValueType.Float64 => ReadFixed<double>(reader, count, field),
            GgufValueType.Bool => ReadBools(reader, count, field),
            GgufValueType.String => ReadStrings(reader, count, field),
            _ => ReadNested(reader, count, field, depth),
        };
        return new GgufValue(GgufValueType.Array, values, elementType);
    }

    // GGUF is little-endian and so is every platform .NET runs this engine on: elements are copied as they are.
    private static T[] ReadFixed<T>(GgufReader reader, int count, string field) where T : unmanaged =>
        MemoryMarshal.Cast<byte, T>(reader.ReadBytes((long)count * Marshal.SizeOf<T>(), field)).ToArray();

    private static bool[] ReadBools(GgufReader reader, int count, string field)
    {
        var bytes = reader.ReadBytes(count, field);
        var result = new bool[count];
        for (int i = 0; i < count; i++)
        {
            if (bytes[i] > 1) throw new ModelFormatException(reader.Path, field, $"bool element {i} holds {bytes[i]}, not 0 or 1");
            result[i] = bytes[i] == 1;
        }
        return result;
    }

    // Strings and nested arrays vary in size, so the list grows with what actually parses rather than with the count.
    private static string[] ReadStrings(GgufReader reader, int count, string field)
    {
        var result = new List<string>(Math.Min(count, InitialCapacity));
        for (int i = 0; i < count; i++) result.Add(reader.ReadString(field, strict: false));
        return [.. result];
    }

    private static GgufValue[] ReadNested(GgufReader reader, int count, string field, int depth)
    {
        var result = new List<GgufValue>(Math.Min(count, InitialCapacity));
        for (int i = 0; i < count; i++) result.Add(ReadArray(reader, field, depth + 1));
        return [.. result];
    }

    private const int InitialCapacity = 1 << 16;
}
