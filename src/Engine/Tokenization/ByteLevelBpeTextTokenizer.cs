using System.Runtime.InteropServices;
using System.Text;
using LlmCpu.Engine.Tokenization.Bpe;
using Microsoft.ML.Tokenizers;

namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// Byte-level BPE as GPT-2, Llama 3 and Qwen2 use it. Special tokens are cut out of the text literally; the rest
/// is split into words by the model's pre-tokenizer expressions; each word is written one character per UTF-8
/// byte and merged by Microsoft.ML.Tokenizers' BPE with the model's merge ranks. Ids equal llama.cpp's.
/// </summary>
public sealed class ByteLevelBpeTextTokenizer : TextTokenizer
{
    private readonly string?[] _tokens;
    private readonly BpeTokenKind[] _kinds;
    private readonly Dictionary<string, int> _idsByText;
    private readonly BpeTokenizer _merger;
    private readonly bool[] _hasByteSymbol;
    private readonly RegexWordSplitter _wordSplitter;
    private readonly SpecialTokenSplitter _specialSplitter;
    private readonly bool _ignoreMerges;
    private readonly bool _addPrefixSpace;
    private readonly bool _normalizeNfc;
    private readonly ByteLevelBpeDefinition _definition;

    /// <summary>The kind an LlmCpu .llmc file names for a tokenizer stored by <see cref="ToStoredJson"/>.</summary>
    public const string StoredKind = "ByteLevelBpe";

    private static readonly System.Text.Json.JsonSerializerOptions StoredJsonOptions = new()
    {
        PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    private ByteLevelBpeTextTokenizer(ByteLevelBpeDefinition definition)
    {
        _definition = definition;
        _tokens = [.. definition.Tokens];
        _kinds = [.. definition.Kinds];
        _idsByText = IdsByText(definition.Tokens);
        _merger = CreateMerger(definition, _idsByText);
        _hasByteSymbol = ByteSymbolsPresent(_idsByText);
        _wordSplitter = new RegexWordSplitter(definition.PreTokenizerPatterns);
        _specialSplitter = new SpecialTokenSplitter(definition.SpecialTokens);
        _ignoreMerges = definition.IgnoreMerges;
        _addPrefixSpace = definition.AddPrefixSpace;
        _normalizeNfc = definition.NormalizeNfc;
        BosTokenId = definition.BosId;
        EosTokenId = definition.EosId;
        AddBosByDefault = definition.AddBos;
        PreTokenizer = definition.PreTokenizerName;
    }

    /// <summary>
    /// From llama.cpp's GGUF metadata of a <c>tokenizer.ggml.model</c> = "gpt2" model: <c>tokenizer.ggml.tokens</c>,
    /// <c>.token_type</c>, <c>.merges</c>, <c>.pre</c>, <c>.bos_token_id</c>, <c>.eos_token_id</c> (-1 where absent)
    /// and <c>.add_bos_token</c> (where absent, pass <see cref="AddsBosByDefault"/> of the pre-tokenizer name).
    /// </summary>
    /// <exception cref="ModelNotSupportedException">The pre-tokenizer name is missing or unknown.</exception>
    /// <exception cref="ModelFormatException">The metadata is inconsistent; the exception names the field.</exception>
    public static ByteLevelBpeTextTokenizer FromGgufMetadata(IReadOnlyList<string> tokens, IReadOnlyList<int> tokenTypes,
        IReadOnlyList<string> merges, string? preTokenizer, int bosId, int eosId, bool addBos, string sourcePath) =>
        new(GgufBpeMetadata.Read(tokens, tokenTypes, merges, preTokenizer, bosId, eosId, addBos, sourcePath));

    /// <summary>
    /// Everything the tokenizer is built from (vocabulary, kinds, merges, special tokens, pre-tokenizer expressions and
    /// options) as UTF-8 JSON, for an LlmCpu .llmc file to carry; <see cref="FromStoredJson"/> reads it back.
    /// </summary>
    public byte[] ToStoredJson() => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(_definition, StoredJsonOptions);

    /// <summary>The tokenizer <see cref="ToStoredJson"/> wrote.</summary>
    /// <exception cref="ModelFormatException">The bytes are not such a definition.</exception>
    public static ByteLevelBpeTextTokenizer FromStoredJson(ReadOnlySpan<byte> json, string sourcePath)
    {
        ByteLevelBpeDefinition? definition;
        try
        {
            definition = System.Text.Json.JsonSerializer.Deserialize<ByteLevelBpeDefinition>(json, StoredJsonOptions);
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new ModelFormatException(sourcePath, "tokenizer", ex.Message, ex);
        }
        if (definition == null || definition.Tokens.Count != definition.Kinds.Count)
            throw new ModelFormatException(sourcePath, "tokenizer", "is not a byte-level BPE definition (tokens and kinds must pair up)");
        return new ByteLevelBpeTextTokenizer(definition with { SourcePath = sourcePath });
    }

    /// <summary>
    /// From a Hugging Face <c>tokenizer.json</c> with a BPE model and a ByteLevel pre-tokenizer (possibly after
    /// Split steps). BOS is the leading special token of a TemplateProcessing post-processor, if any; the file
    /// names no EOS, so <see cref="EosTokenId"/> is -1 (config.json has it).
    /// </summary>
    /// <exception cref="ModelNotSupportedException">Another model type or a pre-tokenizer this engine does not implement; names the field.</exception>
    /// <exception cref="ModelFormatException">A missing or malformed field; names it.</exception>
    public static ByteLevelBpeTextTokenizer FromTokenizerJson(string path) => new(TokenizerJsonReader.Read(path));

    /// <summary>llama.cpp's default for <c>tokenizer.ggml.add_bos_token</c> when a file leaves it out: true for the Llama 3 family.</summary>
    public static bool AddsBosByDefault(string? preTokenizer) => GgufBpeMetadata.AddsBosByDefault(preTokenizer);

    public override string Kind => "BPE (byte-level)";

    /// <summary>-1 where the model has no BOS token; then <see cref="Encode(string, bool)"/> adds nothing.</summary>
    public override int BosTokenId { get; }

    /// <summary>-1 where the source does not name one.</summary>
    public int EosTokenId { get; }

    /// <summary>Whether the model itself asks for BOS in front of a prompt.</summary>
    public override bool AddBosByDefault { get; }

    /// <summary>The pre-tokenizer's GGUF name, or "tokenizer.json".</summary>
    public string PreTokenizer { get; }

    public override int VocabularySize => _tokens.Length;

    /// <summary>Token ids of <paramref name="text"/>; control tokens written in the text (chat markers) become their ids.</summary>
    public override int[] Encode(string text, bool addBos) => Encode(text, addBos, parseSpecial: true);

    /// <summary>
    /// Token ids of <paramref name="text"/>. User-defined tokens are always matched literally; control tokens only
    /// when <paramref name="parseSpecial"/> is set (otherwise their text is encoded like any other).
    /// </summary>
    public int[] Encode(string text, bool addBos, bool parseSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && BosTokenId >= 0) ids.Add(BosTokenId);
        var words = new List<(int Start, int Length)>();
        foreach (var piece in _specialSplitter.Split(text, parseSpecial))
        {
            if (piece.IsSpecial)
            {
                ids.Add(piece.SpecialId);
                continue;
            }
            string fragment = PrepareFragment(text.Substring(piece.Start, piece.Length));
            words.Clear();
            _wordSplitter.Split(fragment, 0, fragment.Length, words);
            foreach (var (start, length) in words) EncodeWord(fragment.AsSpan(start, length), ids);
        }
        return [.. ids];
    }

    /// <summary>Byte-level BPE has no dummy prefix: <paramref name="startsStretch"/> changes nothing.</summary>
    public override int[] EncodeLiteral(string text, bool startsStretch) => Encode(text, addBos: false, parseSpecial: false);

    public override int FindSpecialToken(string text) =>
        _idsByText.TryGetValue(text, out int id) && _kinds[id] is BpeTokenKind.Control or BpeTokenKind.UserDefined ? id : -1;

    /// <summary>Text of the ids. Control, unknown and unused tokens, and ids outside the vocabulary, decode to nothing;
    /// bytes that do not form valid UTF-8 (a character cut between tokens) decode to U+FFFD.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_tokens.Length || _tokens[id] is not { } token) continue;
            switch (_kinds[id])
            {
                case BpeTokenKind.Normal:
                    ByteLevelAlphabet.AppendBytes(token, bytes);
                    break;
                case BpeTokenKind.UserDefined:
                    bytes.AddRange(Encoding.UTF8.GetBytes(token));
                    break;
            }
        }
        return Encoding.UTF8.GetString(CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>Ordinary pieces as the bytes their byte-level characters stand for, added tokens as their UTF-8, the
    /// rest as no text: the same rules as <see cref="Decode"/>, token by token.</summary>
    protected override TokenTextTable CreateTokenTable()
    {
        var bytes = new byte[]?[_tokens.Length];
        var buffer = new List<byte>();
        for (int id = 0; id < _tokens.Length; id++)
        {
            if (_tokens[id] is not { } token) continue;
            switch (_kinds[id])
            {
                case BpeTokenKind.Normal:
                    buffer.Clear();
                    ByteLevelAlphabet.AppendBytes(token, buffer);
                    bytes[id] = [.. buffer];
                    break;
                case BpeTokenKind.UserDefined:
                    bytes[id] = Encoding.UTF8.GetBytes(token);
                    break;
            }
        }
        return new TokenTextTable(bytes, null, dropsFirstLeadingSpace: false);
    }

    /// <summary>The text of one token as stored (byte-level form for ordinary pieces); null for an unassigned id.</summary>
    public string? TokenText(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    private string PrepareFragment(string fragment)
    {
        // Normalization and the prefix space apply to the text between special tokens, as in Hugging Face's pipeline.
        if (_normalizeNfc) fragment = fragment.Normalize(NormalizationForm.FormC);
        if (_addPrefixSpace && !fragment.StartsWith(' ')) fragment = " " + fragment;
        return fragment;
    }

    private void EncodeWord(ReadOnlySpan<char> word, List<int> ids)
    {
        string symbols = ByteLevelAlphabet.Encode(word);
        if (_ignoreMerges && _idsByText.TryGetValue(symbols, out int whole))
        {
            ids.Add(whole);
            return;
        }
        // A byte the vocabulary has no entry for (some leave out control characters) cannot be encoded. As in
        // llama.cpp it is dropped, and it still separates what is on either side, so no merge spans it.
        int start = 0;
        for (int i = 0; i < symbols.Length; i++)
        {
            if (ByteLevelAlphabet.TryDecode(symbols[i], out byte value) && _hasByteSymbol[value]) continue;
            Merge(symbols.AsSpan(start, i - start), ids);
            start = i + 1;
        }
        Merge(symbols.AsSpan(start), ids);
    }

    private void Merge(ReadOnlySpan<char> symbols, List<int> ids)
    {
        if (symbols.IsEmpty) return;
        ids.AddRange(_merger.EncodeToIds(symbols, considerPreTokenization: false, considerNormalization: false));
    }

    private static Dictionary<string, int> IdsByText(IReadOnlyList<string?> tokens)
    {
        // Later ids win where a text repeats, as in llama.cpp's lookup table.
        var ids = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Count; id++)
            if (tokens[id] is { } token) ids[token] = id;
        return ids;
    }

    private static BpeTokenizer CreateMerger(ByteLevelBpeDefinition definition, Dictionary<string, int> vocabulary)
    {
        try
        {
            // No pre-tokenizer and no byte mapping: words arrive already split and in byte-level form.
            return BpeTokenizer.Create(new BpeOptions(vocabulary) { Merges = definition.Merges, ByteLevel = false });
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw new ModelFormatException(definition.SourcePath, definition.MergesField, ex.Message, ex);
        }
    }

    private static bool[] ByteSymbolsPresent(Dictionary<string, int> vocabulary)
    {
        var present = new bool[256];
        for (int value = 0; value < 256; value++)
            present[value] = vocabulary.ContainsKey(ByteLevelAlphabet.Encode((byte)value).ToString());
        return present;
    }
}
