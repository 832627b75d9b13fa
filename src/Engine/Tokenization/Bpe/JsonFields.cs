using System.Text.Json;

namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>Typed reads of JSON properties that name the field at fault when it is missing or of the wrong kind.</summary>
internal static class JsonFields
{
    public static JsonElement RequireObject(JsonElement parent, string name, string field, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            throw new ModelFormatException(path, field, "is missing");
        if (value.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, field, "is not an object");
        return value;
    }

    public static string RequireString(JsonElement parent, string name, string field, string path) =>
        OptionalString(parent, name, field, path) ?? throw new ModelFormatException(path, field, "is missing");

    public static int RequireInt(JsonElement parent, string name, string field, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            throw new ModelFormatException(path, field, "is missing");
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
            throw new ModelFormatException(path, field, "is not an integer");
        return result;
    }

    public static string? OptionalString(JsonElement parent, string name, string field, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind != JsonValueKind.String) throw new ModelFormatException(path, field, "is not a string");
        return value.GetString();
    }

    public static bool? OptionalBool(JsonElement parent, string name, string field, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFormatException(path, field, "is not true or false"),
        };
    }

    /// <summary>The items of a list-valued property; a missing or null property is an empty list.</summary>
    public static IEnumerable<(JsonElement Item, string Field)> Items(JsonElement parent, string name, string field, string path)
    {
        if (!parent.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return [];
        if (value.ValueKind != JsonValueKind.Array) throw new ModelFormatException(path, field, "is not a list");
        return value.EnumerateArray().Select((item, i) => (item, $"{field}[{i}]"));
    }
}
