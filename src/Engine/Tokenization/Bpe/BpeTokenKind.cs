namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>What a vocabulary entry is, with the numbering of GGUF's <c>tokenizer.ggml.token_type</c>.</summary>
internal enum BpeTokenKind
{
    Undefined = 0,
    /// <summary>A byte-level BPE piece; decodes through <see cref="ByteLevelAlphabet"/>.</summary>
    Normal = 1,
    Unknown = 2,
    /// <summary>A special token (BOS, EOS, chat markers): matched in text only when asked, decodes to nothing.</summary>
    Control = 3,
    /// <summary>An added token stored as plain text: always matched in text, decodes to its text.</summary>
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}
