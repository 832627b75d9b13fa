namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>Everything a byte-level BPE tokenizer is built from, checked and in one shape whichever file it came from.</summary>
internal sealed record ByteLevelBpeDefinition
{
    /// <summary>The file the definition was read from, for error messages.</summary>
    public required string SourcePath { get; init; }

    /// <summary>The field holding the vocabulary, named in errors about it.</summary>
    public required string VocabularyField { get; init; }

    /// <summary>The field holding the merges, named in errors about them.</summary>
    public required string MergesField { get; init; }

    /// <summary>Vocabulary entries by id; null where the file leaves an id unassigned.</summary>
    public required IReadOnlyList<string?> Tokens { get; init; }

    public required IReadOnlyList<BpeTokenKind> Kinds { get; init; }

    /// <summary>Merges as "left right", best first.</summary>
    public required IReadOnlyList<string> Merges { get; init; }

    /// <summary>Tokens matched literally in the input before pre-tokenization.</summary>
    public required IReadOnlyList<SpecialToken> SpecialTokens { get; init; }

    public required IReadOnlyList<string> PreTokenizerPatterns { get; init; }

    /// <summary>A short description of the pre-tokenizer (its GGUF name, or "tokenizer.json").</summary>
    public required string PreTokenizerName { get; init; }

    public bool IgnoreMerges { get; init; }

    /// <summary>Hugging Face's ByteLevel <c>add_prefix_space</c>: a space is put before text that does not start with one.</summary>
    public bool AddPrefixSpace { get; init; }

    /// <summary>Unicode NFC normalization of the input (Qwen2's tokenizer.json asks for it).</summary>
    public bool NormalizeNfc { get; init; }

    /// <summary>-1 where the model has none.</summary>
    public int BosId { get; init; } = -1;

    /// <summary>-1 where the model has none.</summary>
    public int EosId { get; init; } = -1;

    public bool AddBos { get; init; }
}
