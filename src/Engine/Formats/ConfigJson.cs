using System.Text.Json;

namespace LlmCpu.Engine.Formats;

/// <summary>Typed reads of a Hugging Face config.json's fields; a value of the wrong type is an error naming the field.</summary>
internal sealed class ConfigJson(JsonElement root, string path)
{
    public string Path => path;

    public JsonElement Root => root;

    public bool Has(string name) => root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public int RequiredInt(params string[] names) =>
        OptionalInt(names) ?? throw new ModelFormatException(path, Prefix + names[0], "is missing");

    /// <summary>The first of <paramref name="names"/> present (families renamed some fields over time).</summary>
    public int? OptionalInt(params string[] names)
    {
        foreach (string name in names)
        {
            if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) continue;
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
                throw new ModelFormatException(path, Prefix + name, $"'{value}' is not a 32-bit integer");
            return result;
        }
        return null;
    }

    public double? OptionalDouble(params string[] names)
    {
        foreach (string name in names)
        {
            if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) continue;
            if (value.ValueKind != JsonValueKind.Number) throw new ModelFormatException(path, Prefix + name, $"'{value}' is not a number");
            if (!value.TryGetDouble(out double result) || !double.IsFinite(result))
                throw new ModelFormatException(path, Prefix + name, $"{value} is not a finite number");
            return result;
        }
        return null;
    }

    public bool? OptionalBool(string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException(path, Prefix + name, $"'{value}' is not true or false"),
        };
    }

    public string? OptionalString(string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw new ModelFormatException(path, Prefix + name, $"'{value}' is not a string");
    }

    /// <summary>A nested object, read with the same rules; its fields are named "parent.field" in messages.</summary>
    public ConfigJson? OptionalObject(string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, Prefix + name, $"'{value}' is not an object");
        return new ConfigJson(value, path) { Prefix = name + "." };
    }

    /// <summary>Prepended to field names in messages about a nested object.</summary>
    public string Prefix { get; private init; } = "";
}
