namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// One GGUF metadata value: a scalar, a string, or an array (read arrays may nest; the writer's factories offer
/// arrays of scalars or strings). The static factories fix the stored type: <c>GgufValue.UInt32(4096)</c> and
/// <c>GgufValue.Int32(4096)</c> are different values to a reader.
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

    /// <summary>The element type when <see cref="Type"/> is <see cref="GgufValueType.Array"/>.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The value: a boxed scalar, a string, or a .NET array for array values.</summary>
    public object Value { get; }

    public bool IsArray => Type == GgufValueType.Array;

    /// <summary>Elements of an array value; 1 for anything else.</summary>
    public int Count => Value is System.Array array ? array.Length : 1;

    /// <summary>The value as an integer when it is one (of any width that fits), else null.</summary>
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

    /// <summary>The value as a floating-point number when it is numeric, else null.</summary>
    public double? AsDouble() => Value switch
    {
        float v => v,
        double v => v,
        ulong v => v,
        _ => AsInt64(),
    };

    public static GgufValue UInt8(byte value) => new(GgufValueType.UInt8, value);
    public static GgufValue Int8(sbyte value) => new(GgufValueType.Int8, value);
    public static GgufValue UInt16(ushort value) => new(GgufValueType.UInt16, value);
    public static GgufValue Int16(short value) => new(GgufValueType.Int16, value);
    public static GgufValue UInt32(uint value) => new(GgufValueType.UInt32, value);
    public static GgufValue Int32(int value) => new(GgufValueType.Int32, value);
    public static GgufValue UInt64(ulong value) => new(GgufValueType.UInt64, value);
    public static GgufValue Int64(long value) => new(GgufValueType.Int64, value);
    public static GgufValue Float32(float value) => new(GgufValueType.Float32, value);
    public static GgufValue Float64(double value) => new(GgufValueType.Float64, value);
    public static GgufValue Bool(bool value) => new(GgufValueType.Bool, value);

    public static GgufValue String(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(GgufValueType.String, value);
    }

    public static GgufValue Array(IEnumerable<string> values)
    {
        var items = values.ToArray();
        if (items.Any(s => s is null)) throw new ArgumentException("A string array holds a null.", nameof(values));
        return new(GgufValueType.Array, items, GgufValueType.String);
    }

    public static GgufValue Array(IEnumerable<byte> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.UInt8);
    public static GgufValue Array(IEnumerable<sbyte> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Int8);
    public static GgufValue Array(IEnumerable<ushort> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.UInt16);
    public static GgufValue Array(IEnumerable<short> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Int16);
    public static GgufValue Array(IEnumerable<uint> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.UInt32);
    public static GgufValue Array(IEnumerable<int> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Int32);
    public static GgufValue Array(IEnumerable<ulong> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.UInt64);
    public static GgufValue Array(IEnumerable<long> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Int64);
    public static GgufValue Array(IEnumerable<float> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Float32);
    public static GgufValue Array(IEnumerable<double> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Float64);
    public static GgufValue Array(IEnumerable<bool> values) => new(GgufValueType.Array, values.ToArray(), GgufValueType.Bool);

    public override string ToString() => Value switch
    {
        string s => s,
        System.Array array => $"{ElementType}[{array.Length}]",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => Value.ToString() ?? "",
    };
}
