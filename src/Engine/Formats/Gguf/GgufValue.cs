using System.Globalization;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// One GGUF metadata value. <see cref="Value"/> is a boxed scalar (byte, sbyte, ushort, short, uint, int, float, bool,
/// ulong, long, double), a string, or for an array a typed .NET array of the element type (<c>string[]</c>,
/// <c>float[]</c>, <c>int[]</c>, ...; <see cref="GgufValue"/>[] for an array of arrays).
/// </summary>
public sealed class GgufValue
{
    internal GgufValue(GgufValueType type, object value, GgufValueType elementType = GgufValueType.UInt8)
    {
        Type = type;
        Value = value;
        ElementType = elementType;
    }

    public GgufValueType Type { get; }

    /// <summary>The type of an array's elements; meaningless for other values.</summary>
    public GgufValueType ElementType { get; }

    public object Value { get; }

    public bool IsArray => Type == GgufValueType.Array;

    /// <summary>Elements of an array; 1 for a scalar or string.</summary>
    public int Count => Value is Array array ? array.Length : 1;

    /// <summary>The value as a 64-bit integer when it is one of the integer types and fits; null otherwise.</summary>
    public long? AsInt64() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => null,
    };

    /// <summary>The value as a double when it is a number (integer or floating point); null otherwise.</summary>
    public double? AsDouble() => Value switch
    {
        float v => v,
        double v => v,
        ulong v => v,
        _ => AsInt64(),
    };

    public override string ToString() => Value switch
    {
        string s => s,
        Array array => $"{ElementType}[{array.Length}]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };
}
