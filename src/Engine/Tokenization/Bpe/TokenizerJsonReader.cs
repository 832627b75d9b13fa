using System.Text.Json;

namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> holding a byte-level BPE model (GPT-2, Llama 3, Qwen2 and the like)
/// into a definition. Anything the engine would get wrong is refused with the field at fault, never skipped.
/// </summary>
internal static class TokenizerJsonReader
{
    /// <summary>Ids beyond this are taken for damage, not for a vocabulary (the largest ones hold about 262,000 entries).</summary>
    private const int MaxTokenId = 4 * 1024 * 1024;

    public static ByteLevelBpeDefinition Read(string path)
    {
        using var document = Parse(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "tokenizer.json", "is not a JSON object");

        var model = JsonFields.RequireObject(root, "model", "model", path);
        string type = JsonFields.RequireString(model, "type", "model.type", path);
        if (type != "BPE") throw new ModelNotSupportedException(path, "model.type", $"'{type}' is not supported (byte-level BPE is)");
        RefuseModelOptions(model, path);

        var tokens = new List<string?>();
        var kinds = new List<BpeTokenKind>();
        ReadVocabulary(JsonFields.RequireObject(model, "vocab", "model.vocab", path), tokens, kinds, path);
        var specials = ReadAddedTokens(root, tokens, kinds, path);
        var merges = ReadMerges(model, path);
        var preTokenizer = TokenizerJsonPreTokenizer.Read(root, path);
        var (bosId, addBos) = TokenizerJsonPostProcessor.ReadBos(root, tokens, path);

        return new ByteLevelBpeDefinition
        {
            SourcePath = path,
            VocabularyField = "model.vocab",
            MergesField = "model.merges",
            Tokens = tokens,
            Kinds = kinds,
            Merges = merges,
            SpecialTokens = specials,
            PreTokenizerPatterns = preTokenizer.Patterns,
            PreTokenizerName = "tokenizer.json",
            AddPrefixSpace = preTokenizer.AddPrefixSpace,
            NormalizeNfc = TokenizerJsonNormalizer.ReadNfc(root, path),
            IgnoreMerges = JsonFields.OptionalBool(model, "ignore_merges", "model.ignore_merges", path) ?? false,
            BosId = bosId,
            AddBos = addBos,
        };
    }

    private static JsonDocument Parse(string path)
    {
        return Formats.JsonText.Parse(File.ReadAllBytes(path), path, "tokenizer.json", new JsonDocumentOptions { MaxDepth = 256 });
    }

    /// <summary>Options of Hugging Face's BPE model that change its output and that this engine does not implement.</summary>
    private static void RefuseModelOptions(JsonElement model, string path)
    {
        if (JsonFields.OptionalString(model, "continuing_subword_prefix", "model.continuing_subword_prefix", path) is { Length: > 0 })
            throw new ModelNotSupportedException(path, "model.continuing_subword_prefix", "is set; byte-level BPE models do not use one");
        if (JsonFields.OptionalString(model, "end_of_word_suffix", "model.end_of_word_suffix", path) is { Length: > 0 })
            throw new ModelNotSupportedException(path, "model.end_of_word_suffix", "is set; byte-level BPE models do not use one");
        if (JsonFields.OptionalBool(model, "byte_fallback", "model.byte_fallback", path) == true)
            throw new ModelNotSupportedException(path, "model.byte_fallback", "is set: this is a SentencePiece-style BPE, not a byte-level one");
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw new ModelNotSupportedException(path, "model.dropout", "is set; BPE dropout is a training aid and would make encoding random");
    }

    private static void ReadVocabulary(JsonElement vocab, List<string?> tokens, List<BpeTokenKind> kinds, string path)
    {
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id))
                throw new ModelFormatException(path, "model.vocab", $"entry '{entry.Name}' has no integer id");
            Place(tokens, kinds, id, entry.Name, BpeTokenKind.Normal, "model.vocab", path);
        }
        if (tokens.Count == 0) throw new ModelFormatException(path, "model.vocab", "is empty");
    }

    private static List<SpecialToken> ReadAddedTokens(JsonElement root, List<string?> tokens, List<BpeTokenKind> kinds, string path)
    {
        var specials = new List<SpecialToken>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null) return specials;
        if (added.ValueKind != JsonValueKind.Array) throw new ModelFormatException(path, "added_tokens", "is not a list");
        int index = 0;
        foreach (var item in added.EnumerateArray())
        {
            string field = $"added_tokens[{index++}]";
            if (item.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, field, "is not an object");
            int id = JsonFields.RequireInt(item, "id", field + ".id", path);
            string content = JsonFields.RequireString(item, "content", field + ".content", path);
            if (content.Length == 0) throw new ModelFormatException(path, field + ".content", "is empty");
            if (JsonFields.OptionalBool(item, "single_word", field + ".single_word", path) == true)
                throw new ModelNotSupportedException(path, field + ".single_word", "is set; matching added tokens only as whole words is not supported");
            bool special = JsonFields.OptionalBool(item, "special", field + ".special", path) ?? false;
            var kind = special ? BpeTokenKind.Control : BpeTokenKind.UserDefined;
            Place(tokens, kinds, id, content, kind, field, path);
            specials.Add(new SpecialToken(content, id, IsControl: special,
                StripLeft: JsonFields.OptionalBool(item, "lstrip", field + ".lstrip", path) ?? false,
                StripRight: JsonFields.OptionalBool(item, "rstrip", field + ".rstrip", path) ?? false));
        }
        return specials;
    }

    /// <summary>Puts a token at its id; an added token may repeat a vocabulary entry (same text, same id), and then its kind wins.</summary>
    private static void Place(List<string?> tokens, List<BpeTokenKind> kinds, int id, string text, BpeTokenKind kind, string field, string path)
    {
        if (id < 0 || id > MaxTokenId) throw new ModelFormatException(path, field, $"id {id} for '{text}' is out of range");
        while (tokens.Count <= id)
        {
            tokens.Add(null);
            kinds.Add(BpeTokenKind.Unused);
        }
        if (tokens[id] is { } existing && existing != text)
            throw new ModelFormatException(path, field, $"id {id} is given to both '{existing}' and '{text}'");
        tokens[id] = text;
        kinds[id] = kind;
    }

    private static List<string> ReadMerges(JsonElement model, string path)
    {
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(path, "model.merges", "is missing or not a list");
        var result = new List<string>(merges.GetArrayLength());
        int index = 0;
        foreach (var item in merges.EnumerateArray())
        {
            string field = $"model.merges[{index++}]";
            // Older files write "left right"; newer ones a two-element list, which allows spaces inside the parts.
            string merge = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString()!,
                JsonValueKind.Array when item.GetArrayLength() == 2 && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String
                    => JoinPair(item[0].GetString()!, item[1].GetString()!, field, path),
                _ => throw new ModelFormatException(path, field, "is neither \"left right\" nor a list of two strings"),
            };
            int space = merge.IndexOf(' ');
            if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
                throw new ModelFormatException(path, field, $"'{merge}' is not two tokens separated by one space");
            result.Add(merge);
        }
        return result;
    }

    private static string JoinPair(string left, string right, string field, string path)
    {
        if (left.Contains(' ') || right.Contains(' '))
            throw new ModelNotSupportedException(path, field, "holds a space inside a token, which byte-level vocabularies never do");
        return left + " " + right;
    }
}
