namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// The key-value metadata of a GGUF file, with typed look-ups that name the file and the key when a value is
/// missing or of the wrong type (field "metadata 'key'").
/// </summary>
public sealed class GgufMetadata(string path, IReadOnlyDictionary<string, GgufValue> values)
{
    public string Path { get; } = path;

    public IReadOnlyDictionary<string, GgufValue> Values { get; } = values;

    public bool Contains(string key) => Values.ContainsKey(key);

    public static string Field(string key) => $"metadata '{key}'";

    public GgufValue? Get(string key) => Values.GetValueOrDefault(key);

    public string RequireString(string key) => GetString(key) ?? throw Missing(key);

    public string? GetString(string key) => Get(key) switch
    {
        null => null,
        { Value: string s } => s,
        var v => throw WrongType(key, v, "a string"),
    };

    public int RequireInt32(string key) => GetInt32(key) ?? throw Missing(key);

    /// <summary>Any integer type, as long as the value fits in an int.</summary>
    public int? GetInt32(string key)
    {
        var value = Get(key);
        if (value == null) return null;
        if (value.IsArray) throw WrongType(key, value, "an integer");
        long? number = value.AsInt64();
        if (number == null) throw WrongType(key, value, "an integer");
        if (number < int.MinValue || number > int.MaxValue)
            throw new ModelFormatException(Path, Field(key), $"{number} does not fit in a 32-bit integer");
        return (int)number;
    }

    /// <summary>A float32 or float64 (an integer is accepted too, as some writers store round numbers that way).</summary>
    public double? GetDouble(string key)
    {
        var value = Get(key);
        if (value == null) return null;
        if (value.IsArray || value.AsDouble() is not { } number) throw WrongType(key, value, "a number");
        return number;
    }

    public double RequireDouble(string key) => GetDouble(key) ?? throw Missing(key);

    public bool? GetBool(string key) => Get(key) switch
    {
        null => null,
        { Value: bool b } => b,
        var v => throw WrongType(key, v, "a bool"),
    };

    public string[] RequireStringArray(string key) => GetStringArray(key) ?? throw Missing(key);

    public string[]? GetStringArray(string key) => Get(key) switch
    {
        null => null,
        { Value: string[] a } => a,
        var v => throw WrongType(key, v, "an array of strings"),
    };

    public float[]? GetSingleArray(string key) => Get(key) switch
    {
        null => null,
        { Value: float[] a } => a,
        { Value: double[] a } => Array.ConvertAll(a, d => (float)d),
        var v => throw WrongType(key, v, "an array of float32"),
    };

    /// <summary>An array of any integer type whose elements fit in an int.</summary>
    public int[]? GetInt32Array(string key)
    {
        var value = Get(key);
        if (value == null) return null;
        if (!value.IsArray || value.Value is GgufValue[] || value.Value is string[] || value.Value is float[] || value.Value is double[] || value.Value is bool[])
            throw WrongType(key, value, "an array of integers");
        if (value.Value is int[] ints) return ints;
        var source = (Array)value.Value;
        var result = new int[source.Length];
        for (int i = 0; i < result.Length; i++)
        {
            long? element = new GgufValue(value.ElementType, source.GetValue(i)!).AsInt64();
            if (element is not { } e || e < int.MinValue || e > int.MaxValue)
                throw new ModelFormatException(Path, Field(key), $"element {i} ({source.GetValue(i)}) does not fit in a 32-bit integer");
            result[i] = (int)e;
        }
        return result;
    }

    private ModelFormatException Missing(string key) => new(Path, Field(key), "is missing");

    private ModelFormatException WrongType(string key, GgufValue value, string expected) =>
        new(Path, Field(key), $"is {(value.IsArray ? $"an array of {value.ElementType}" : value.Type.ToString())}, expected {expected}");
}
