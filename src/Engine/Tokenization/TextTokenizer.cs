namespace LlmCpu.Engine.Tokenization;

/// <summary>Turns text into token ids and back, with the model's special ids.</summary>
public abstract class TextTokenizer
{
    private TokenTextTable? _tokenTable;

    public abstract string Kind { get; }

    public abstract int BosTokenId { get; }

    public abstract int VocabularySize { get; }

    /// <summary>Whether prompts start with BOS unless told otherwise (Llama: yes; GPT-2 and Qwen2: no).</summary>
    public virtual bool AddBosByDefault => true;

    /// <summary>Token ids of <paramref name="text"/>, preceded by BOS when <paramref name="addBos"/> is set.</summary>
    public abstract int[] Encode(string text, bool addBos);

    /// <summary>
    /// Token ids of text a person wrote, as one stretch of a longer sequence: the text of a control token in it (a chat
    /// marker, "&lt;s&gt;") is encoded as ordinary text, never as the control token, so a message cannot forge a turn.
    /// </summary>
    /// <param name="startsStretch">The text starts the sequence or follows a special token. SentencePiece models add
    /// their dummy-prefix space only then, as llama.cpp does when it tokenizes a rendered chat; text that continues text
    /// gets none.</param>
    public abstract int[] EncodeLiteral(string text, bool startsStretch);

    /// <summary>
    /// The id of the control or user-defined token whose text is exactly <paramref name="text"/> (a chat marker such as
    /// "&lt;|im_start|&gt;"), or -1 when the vocabulary has none; then the marker is ordinary text, as in llama.cpp.
    /// </summary>
    public abstract int FindSpecialToken(string text);

    /// <summary>Text of the ids; special tokens (BOS, EOS) decode to nothing.</summary>
    public abstract string Decode(IEnumerable<int> ids);

    /// <summary>
    /// The bytes every token adds to decoded text, built on first use and kept: streaming decoding and output
    /// constraints read tokens one at a time from it. Decoding any sequence through the table gives <see cref="Decode"/>'s text.
    /// </summary>
    public TokenTextTable TokenTable => LazyInitializer.EnsureInitialized(ref _tokenTable, CreateTokenTable);

    /// <summary>Builds <see cref="TokenTable"/> from the vocabulary.</summary>
    protected abstract TokenTextTable CreateTokenTable();
}
