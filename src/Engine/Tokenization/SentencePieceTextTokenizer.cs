using Microsoft.ML.Tokenizers;

namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// A SentencePiece model (tokenizer.model) read through Microsoft.ML.Tokenizers. A BPE model that normalizes only
/// spaces (Llama's, Mistral's, every GGUF "llama" vocabulary) is segmented by <see cref="SentencePieceBpeEncoder"/>,
/// which merges equal-score pairs leftmost first as SentencePiece does; the library, which merges them rightmost
/// first, still reads the file, decodes and segments other models.
/// </summary>
public sealed class SentencePieceTextTokenizer : TextTokenizer
{
    private readonly SentencePieceTokenizer _tokenizer;
    private readonly byte[] _modelBytes;
    private readonly SentencePieceBpeEncoder? _bpe;

    private SentencePieceTextTokenizer(SentencePieceTokenizer tokenizer, byte[] modelBytes, SentencePieceVocabulary vocabulary)
    {
        _tokenizer = tokenizer;
        _modelBytes = modelBytes;
        _vocabulary = vocabulary;
        _bpe = SentencePieceBpeEncoder.Supports(vocabulary) ? new SentencePieceBpeEncoder(vocabulary) : null;
    }

    public static SentencePieceTextTokenizer Load(string path) => Load(File.ReadAllBytes(path), path);

    /// <summary>
    /// Loads a serialized SentencePiece ModelProto; failures name <paramref name="path"/> and <paramref name="field"/>
    /// as the source (the model may be built in memory from another file's metadata).
    /// </summary>
    public static SentencePieceTextTokenizer Load(byte[] modelBytes, string path, string field = "tokenizer model")
    {
        using var stream = new MemoryStream(modelBytes, writable: false);
        try
        {
            RequireSpecs(modelBytes, path, field);
            var vocabulary = SentencePieceVocabulary.Parse(modelBytes);
            RequireBytePieces(vocabulary, path, field);
            // BOS is added by Encode on request, not by the library, so that callers control it.
            return new SentencePieceTextTokenizer(LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false), modelBytes, vocabulary);
        }
        // The library parses the bytes: whatever it throws on them (a damaged file has made it dereference a missing
        // message or index past a list) says the file is bad, and is reported against the file.
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or NotSupportedException or FormatException
                                   or Google.Protobuf.InvalidProtocolBufferException or NullReferenceException or IndexOutOfRangeException
                                   or KeyNotFoundException or OverflowException)
        {
            throw new ModelFormatException(path, field, ex.Message, ex);
        }
    }

    /// <summary>
    /// Refuses a model without pieces, trainer spec or normalizer spec (ModelProto fields 1, 2, 3): a file cut short
    /// loses them, and the library dereferences them unchecked.
    /// </summary>
    private static void RequireSpecs(byte[] modelBytes, string path, string field)
    {
        bool pieces = false, trainer = false, normalizer = false;
        var input = new Google.Protobuf.CodedInputStream(modelBytes);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int number = Google.Protobuf.WireFormat.GetTagFieldNumber(tag);
            pieces |= number == 1;
            trainer |= number == 2;
            normalizer |= number == 3;
            input.SkipLastField();
        }
        string? missing = !pieces ? "pieces" : !trainer ? "trainer_spec" : !normalizer ? "normalizer_spec" : null;
        if (missing != null) throw new ModelFormatException(path, field, $"has no {missing} (the file is cut short or not a SentencePiece model)");
    }

    /// <summary>
    /// Refuses byte pieces whose text is not &lt;0xAB&gt;: the piece's text is the byte it stands for, which decoding
    /// reads back, so a damaged one would load and then fail at the first generation.
    /// </summary>
    private static void RequireBytePieces(SentencePieceVocabulary vocabulary, string path, string field)
    {
        var pieces = vocabulary.Pieces;
        for (int id = 0; id < pieces.Count; id++)
        {
            if (pieces[id].Type == SentencePieceType.Byte && !TryParseBytePiece(pieces[id].Piece, out _))
                throw new ModelFormatException(path, $"{field} piece {id}", $"is a byte piece whose text is not <0xAB> (it reads '{pieces[id].Piece}')");
        }
    }

    /// <summary>The byte a byte piece's text &lt;0xAB&gt; stands for.</summary>
    private static bool TryParseBytePiece(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out value);
    }

    public override string Kind => "SentencePiece";

    public override int BosTokenId => _tokenizer.BeginningOfSentenceId;

    public override int VocabularySize => _tokenizer.Vocabulary.Count;

    public override int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        IReadOnlyList<int> ids = _bpe != null
            ? _bpe.Encode(text, Vocabulary.AddDummyPrefix)
            : _tokenizer.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false);
        if (!addBos) return [.. ids];
        var result = new int[ids.Count + 1];
        result[0] = BosTokenId;
        for (int i = 0; i < ids.Count; i++) result[i + 1] = ids[i];
        return result;
    }

    public override int[] EncodeLiteral(string text, bool startsStretch)
    {
        ArgumentNullException.ThrowIfNull(text);
        // The library is given no special tokens, so text such as "<s>" is always ordinary text here.
        if (startsStretch || !Vocabulary.AddDummyPrefix) return Encode(text, addBos: false);
        if (text.Length == 0) return [];
        if (_bpe != null) return _bpe.Encode(text, addDummyPrefix: false);
        // Without the dummy prefix: the identity normalization SentencePiece applies is the space escape alone, done
        // here so that the library's normalizer (which would add the prefix) is skipped.
        var ids = _tokenizer.EncodeToIds(text.Replace(' ', '\u2581'), addBeginningOfSentence: false, addEndOfSentence: false, considerNormalization: false);
        return [.. ids];
    }

    public override int FindSpecialToken(string text)
    {
        var pieces = Vocabulary.Pieces;
        for (int id = 0; id < pieces.Count; id++)
        {
            if (pieces[id].Type is SentencePieceType.Control or SentencePieceType.UserDefined && pieces[id].Piece == text) return id;
        }
        return -1;
    }

    private SentencePieceVocabulary Vocabulary => _vocabulary;

    private readonly SentencePieceVocabulary _vocabulary;

    /// <summary>The serialized SentencePiece model, for embedding it in other model files.</summary>
    public ReadOnlySpan<byte> ModelBytes => _modelBytes;

    /// <summary>
    /// Pieces with "▁" read as spaces, byte pieces (&lt;0xAB&gt;) as their byte; control, unknown and unused pieces
    /// produce no text, as in <see cref="Decode"/>. With the dummy prefix on, decoding drops the "▁" that starts the
    /// first piece that is not a byte piece (it stands for the space the encoder added). A special piece between byte pieces ends
    /// the character they spell, as Microsoft.ML.Tokenizers decodes; ids outside the vocabulary are skipped before decoding.
    /// </summary>
    protected override TokenTextTable CreateTokenTable()
    {
        var vocabulary = Vocabulary;
        int count = VocabularySize;
        var bytes = new byte[]?[count];
        var leadingSpace = new bool[count];
        var bytePieces = new bool[count];
        for (int id = 0; id < count && id < vocabulary.Pieces.Count; id++)
        {
            var entry = vocabulary.Pieces[id];
            switch (entry.Type)
            {
                case SentencePieceType.Byte:
                    TryParseBytePiece(entry.Piece, out byte value); // checked at load
                    bytes[id] = [value];
                    bytePieces[id] = true;
                    break;
                case SentencePieceType.Normal or SentencePieceType.UserDefined:
                    bytes[id] = System.Text.Encoding.UTF8.GetBytes(entry.Piece.Replace('\u2581', ' '));
                    leadingSpace[id] = entry.Piece.StartsWith('\u2581');
                    break;
            }
        }
        return new TokenTextTable(bytes, leadingSpace, vocabulary.AddDummyPrefix, bytePieces, specialTokensEndCharacters: true);
    }

    /// <summary>Ids outside the vocabulary (a model may have more output rows than pieces) decode to nothing.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        int count = VocabularySize;
        return _tokenizer.Decode(ids.Where(id => (uint)id < (uint)count), considerSpecialTokens: false);
    }
}
