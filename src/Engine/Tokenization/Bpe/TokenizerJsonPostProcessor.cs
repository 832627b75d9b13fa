using System.Text.Json;

namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>
/// Finds the BOS token in tokenizer.json's <c>post_processor</c>: Llama 3's files put it in front of every
/// sequence with a <c>TemplateProcessing</c> step; GPT-2's and Qwen2's add nothing.
/// </summary>
internal static class TokenizerJsonPostProcessor
{
    public static (int BosId, bool AddBos) ReadBos(JsonElement root, IReadOnlyList<string?> tokens, string path)
    {
        if (!root.TryGetProperty("post_processor", out var processor) || processor.ValueKind == JsonValueKind.Null) return (-1, false);
        return Visit(processor, "post_processor", tokens, path);
    }

    private static (int BosId, bool AddBos) Visit(JsonElement processor, string field, IReadOnlyList<string?> tokens, string path)
    {
        if (processor.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, field, "is not an object");
        string type = JsonFields.RequireString(processor, "type", field + ".type", path);
        switch (type)
        {
            case "ByteLevel":
                return (-1, false); // only adjusts offsets
            case "Sequence":
                foreach (var (item, itemField) in JsonFields.Items(processor, "processors", field + ".processors", path))
                {
                    var found = Visit(item, itemField, tokens, path);
                    if (found.AddBos) return found;
                }
                return (-1, false);
            case "TemplateProcessing":
                return ReadTemplate(processor, field, tokens, path);
            default:
                throw new ModelNotSupportedException(path, field + ".type", $"'{type}' is not supported (ByteLevel, TemplateProcessing, Sequence are)");
        }
    }

    private static (int BosId, bool AddBos) ReadTemplate(JsonElement processor, string field, IReadOnlyList<string?> tokens, string path)
    {
        var single = JsonFields.Items(processor, "single", field + ".single", path).ToList();
        int? bosId = null;
        for (int i = 0; i < single.Count; i++)
        {
            var (item, itemField) = single[i];
            if (item.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, itemField, "is not an object");
            if (!item.TryGetProperty("SpecialToken", out var special)) continue;
            if (i != 0)
                throw new ModelNotSupportedException(path, itemField, "adds a special token after the text; only a leading BOS is supported");
            string name = JsonFields.RequireString(special, "id", itemField + ".SpecialToken.id", path);
            bosId = SpecialTokenId(processor, name, field, tokens, path);
        }
        return bosId is { } id ? (id, true) : (-1, false);
    }

    private static int SpecialTokenId(JsonElement processor, string name, string field, IReadOnlyList<string?> tokens, string path)
    {
        if (processor.TryGetProperty("special_tokens", out var map) && map.ValueKind == JsonValueKind.Object
            && map.TryGetProperty(name, out var entry) && entry.ValueKind == JsonValueKind.Object
            && entry.TryGetProperty("ids", out var ids) && ids.ValueKind == JsonValueKind.Array && ids.GetArrayLength() == 1
            && ids[0].TryGetInt32(out int id) && id >= 0 && id < tokens.Count)
            return id;
        for (int i = 0; i < tokens.Count; i++)
            if (tokens[i] == name) return i;
        throw new ModelFormatException(path, field + ".special_tokens", $"'{name}' is neither listed with one id nor in the vocabulary");
    }
}
