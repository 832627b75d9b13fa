namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>Type tags of GGUF metadata values, as numbered in the file.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

internal static class GgufValueTypeInfo
{
    /// <summary>Bytes of a fixed-size value; 0 for strings and arrays, whose size is in the file.</summary>
    public static int FixedSize(this GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The fewest bytes a value of this type occupies: what a count of such values is checked against.</summary>
    public static int MinimumSize(this GgufValueType type) => type switch
    {
        GgufValueType.String => 8,              // the length alone
        GgufValueType.Array => 12,              // element type and count
        _ => type.FixedSize(),
    };

    public static bool IsDefined(this GgufValueType type) => type <= GgufValueType.Float64;
}
