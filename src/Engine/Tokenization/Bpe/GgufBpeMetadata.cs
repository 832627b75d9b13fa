namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>Checks llama.cpp's tokenizer metadata for a byte-level BPE model (<c>tokenizer.ggml.model</c> = "gpt2") and turns it into a definition.</summary>
internal static class GgufBpeMetadata
{
    public const string TokensField = "tokenizer.ggml.tokens";
    public const string TokenTypesField = "tokenizer.ggml.token_type";
    public const string MergesField = "tokenizer.ggml.merges";
    public const string PreTokenizerField = "tokenizer.ggml.pre";
    public const string BosField = "tokenizer.ggml.bos_token_id";
    public const string EosField = "tokenizer.ggml.eos_token_id";

    /// <summary>
    /// Conversions older than pre-tokenizer names lack the field. llama.cpp then falls back to a generic
    /// expression and warns that output quality suffers; this engine refuses instead of guessing.
    /// </summary>
    private const string MissingPreTokenizerMessage =
        "is missing; the file predates pre-tokenizer names, re-convert it with a current llama.cpp";

    public static ByteLevelBpeDefinition Read(IReadOnlyList<string> tokens, IReadOnlyList<int> tokenTypes, IReadOnlyList<string> merges,
        string? preTokenizer, int bosId, int eosId, bool addBos, string sourcePath)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        if (tokens is null || tokens.Count == 0) throw new ModelFormatException(sourcePath, TokensField, "is missing or empty");
        if (tokenTypes is null) throw new ModelFormatException(sourcePath, TokenTypesField, "is missing");
        if (tokenTypes.Count != tokens.Count)
            throw new ModelFormatException(sourcePath, TokenTypesField, $"has {tokenTypes.Count} entries for {tokens.Count} tokens");
        if (merges is null) throw new ModelFormatException(sourcePath, MergesField, "is missing");
        if (preTokenizer is null) throw new ModelNotSupportedException(sourcePath, PreTokenizerField, MissingPreTokenizerMessage);
        if (!PreTokenizerCatalog.TryGet(preTokenizer, out var recipe))
            throw new ModelNotSupportedException(sourcePath, PreTokenizerField,
                $"'{preTokenizer}' is not a supported pre-tokenizer (supported: {string.Join(", ", PreTokenizerCatalog.Names)})");
        CheckTokenId(bosId, tokens.Count, sourcePath, BosField);
        CheckTokenId(eosId, tokens.Count, sourcePath, EosField);

        var kinds = new BpeTokenKind[tokens.Count];
        var specials = new List<SpecialToken>();
        for (int id = 0; id < tokens.Count; id++)
        {
            if (tokens[id] is null) throw new ModelFormatException(sourcePath, TokensField, $"entry {id} is null");
            int type = tokenTypes[id];
            if (type < (int)BpeTokenKind.Undefined || type > (int)BpeTokenKind.Byte)
                throw new ModelFormatException(sourcePath, TokenTypesField, $"entry {id} is {type}, not a known token type (0-6)");
            kinds[id] = (BpeTokenKind)type;
            if (kinds[id] is BpeTokenKind.Control or BpeTokenKind.Unknown or BpeTokenKind.UserDefined)
                specials.Add(new SpecialToken(tokens[id], id, IsControl: kinds[id] != BpeTokenKind.UserDefined));
        }

        return new ByteLevelBpeDefinition
        {
            SourcePath = sourcePath,
            VocabularyField = TokensField,
            MergesField = MergesField,
            Tokens = tokens,
            Kinds = kinds,
            Merges = merges,
            SpecialTokens = specials,
            PreTokenizerPatterns = recipe.Patterns,
            PreTokenizerName = preTokenizer,
            IgnoreMerges = recipe.IgnoreMerges,
            BosId = bosId,
            EosId = eosId,
            AddBos = addBos,
        };
    }

    public static bool AddsBosByDefault(string? preTokenizer) =>
        preTokenizer is not null && PreTokenizerCatalog.TryGet(preTokenizer, out var recipe) && recipe.AddsBosByDefault;

    private static void CheckTokenId(int id, int count, string path, string field)
    {
        if (id < -1 || id >= count) throw new ModelFormatException(path, field, $"{id} is outside the vocabulary (0-{count - 1})");
    }
}
