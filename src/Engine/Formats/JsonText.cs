using System.Text.Json;

namespace LlmCpu.Engine.Formats;

/// <summary>
/// Parses the JSON inside model files (safetensors headers, config.json, the shard index, tokenizer.json) so that bad
/// text is refused when it is read, naming the file. <see cref="JsonDocument"/> accepts invalid UTF-8 inside strings
/// and escaped lone surrogates ("\ud800"), and only throws (an InvalidOperationException, as if the caller had erred)
/// when such a string is read later; a reader of a damaged file must refuse it instead.
/// </summary>
internal static class JsonText
{
    public static JsonDocument Parse(ReadOnlyMemory<byte> utf8, string path, string field, JsonDocumentOptions options = default)
    {
        int invalid = FirstInvalidUtf8(utf8.Span);
        if (invalid >= 0) throw new ModelFormatException(path, field, $"is not valid UTF-8 (byte {invalid})");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, options);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, field, "is not valid JSON: " + ex.Message, ex);
        }
        // Escaped surrogates are rare in real files (UTF-8 text is written as it is), so the full check runs only
        // when the text holds one.
        if (utf8.Span.IndexOf(@"\u"u8) >= 0 && HasEscapedSurrogate(utf8.Span))
        {
            try
            {
                CheckStrings(document.RootElement, "$", path, field);
            }
            catch
            {
                document.Dispose();
                throw;
            }
        }
        return document;
    }

    /// <summary>The string at <paramref name="element"/>, or a format error naming <paramref name="field"/> when it is of another kind.</summary>
    public static string RequireString(JsonElement element, string path, string field) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : throw new ModelFormatException(path, field, $"is {Describe(element.ValueKind)}, not a string");

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true or false",
        JsonValueKind.Null => "null",
        _ => "a string",
    };

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return -1;
        var decoder = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true);
        try
        {
            decoder.GetCharCount(bytes);
            return -1;
        }
        catch (System.Text.DecoderFallbackException ex)
        {
            return ex.Index;
        }
    }

    private static bool HasEscapedSurrogate(ReadOnlySpan<byte> bytes)
    {
        for (int at = bytes.IndexOf(@"\u"u8); at >= 0 && at + 3 < bytes.Length;)
        {
            byte high = bytes[at + 2], next = bytes[at + 3];
            if (high is (byte)'d' or (byte)'D' && next is (>= (byte)'8' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f') or (>= (byte)'A' and <= (byte)'F'))
                return true;
            int following = bytes[(at + 2)..].IndexOf(@"\u"u8);
            at = following < 0 ? -1 : at + 2 + following;
        }
        return false;
    }

    private static void CheckStrings(JsonElement element, string where, string path, string field)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                int index = 0;
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try { name = property.Name; }
                    catch (InvalidOperationException) { throw new ModelFormatException(path, $"{field} {where} key #{index}", "is not valid UTF-16 text (a lone surrogate)"); }
                    CheckStrings(property.Value, $"{where}.{name}", path, field);
                    index++;
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in element.EnumerateArray()) CheckStrings(item, $"{where}[{i++}]", path, field);
                break;
            case JsonValueKind.String:
                try { element.GetString(); }
                catch (InvalidOperationException) { throw new ModelFormatException(path, $"{field} {where}", "is not valid UTF-16 text (a lone surrogate)"); }
                break;
        }
    }
}
