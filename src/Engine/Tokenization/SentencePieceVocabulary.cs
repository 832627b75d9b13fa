using Google.Protobuf;

namespace LlmCpu.Engine.Tokenization;

/// <summary>What kind of piece a SentencePiece vocabulary entry is; the numbers are SentencePiece's (and GGUF's token types).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>One vocabulary entry of a SentencePiece model.</summary>
public readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);

/// <summary>
/// The vocabulary of a SentencePiece model file (tokenizer.model, a serialized ModelProto): every piece with its
/// score and type, the special ids from the trainer spec, and whether the normalizer adds a leading space.
/// Fields this library does not need are skipped, so files from newer SentencePiece versions still read.
/// </summary>
public sealed class SentencePieceVocabulary
{
    // Field numbers of sentencepiece_model.proto.
    private const int ModelPieces = 1, ModelTrainerSpec = 2, ModelNormalizerSpec = 3;
    private const int PieceText = 1, PieceScore = 2, PieceType = 3;
    private const int TrainerModelType = 3, TrainerTreatWhitespaceAsSuffix = 24, TrainerByteFallback = 35;
    private const int TrainerUnkId = 40, TrainerBosId = 41, TrainerEosId = 42, TrainerPadId = 43;
    private const int NormalizerName = 1, NormalizerPrecompiledCharsMap = 2, NormalizerAddDummyPrefix = 3;
    private const int NormalizerRemoveExtraWhitespaces = 4, NormalizerEscapeWhitespaces = 5;
    private const int BpeModelType = 2;

    public required IReadOnlyList<SentencePieceEntry> Pieces { get; init; }

    public int UnknownId { get; init; }

    public int BosId { get; init; } = 1;

    public int EosId { get; init; } = 2;

    /// <summary>-1 when the model has no padding piece.</summary>
    public int PadId { get; init; } = -1;

    /// <summary>Whether text gets a leading space (U+2581) before it is split, as SentencePiece's default normalizer does.</summary>
    public bool AddDummyPrefix { get; init; } = true;

    /// <summary>Whether the model segments by BPE merges (trainer_spec.model_type BPE), not unigram likelihood.</summary>
    public bool IsBpe { get; init; }

    /// <summary>Whether text the pieces cannot cover becomes byte pieces (&lt;0xAB&gt;) rather than the unknown piece.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>Whether the normalizer drops leading, trailing and repeated spaces.</summary>
    public bool RemoveExtraWhitespaces { get; init; }

    /// <summary>
    /// Whether the normalizer changes nothing but spaces: it is named "identity" or carries no character map, writes
    /// spaces as U+2581 and puts the space-marker before words (not after them, trainer_spec.treat_whitespace_as_suffix).
    /// </summary>
    public bool NormalizesOnlySpaces { get; init; } = true;

    public static SentencePieceVocabulary Load(string path)
    {
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelFormatException(path, "tokenizer model", ex.Message, ex);
        }
    }

    public static SentencePieceVocabulary Parse(byte[] modelProto)
    {
        var pieces = new List<SentencePieceEntry>();
        var trainer = new TrainerFields();
        var normalizer = new NormalizerFields();
        var input = new CodedInputStream(modelProto);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case ModelPieces when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    pieces.Add(ReadPiece(input.ReadBytes()));
                    break;
                case ModelTrainerSpec when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    trainer = ReadTrainerSpec(input.ReadBytes());
                    break;
                case ModelNormalizerSpec when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    normalizer = ReadNormalizerSpec(input.ReadBytes());
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        return new SentencePieceVocabulary
        {
            Pieces = pieces, UnknownId = trainer.Unk, BosId = trainer.Bos, EosId = trainer.Eos, PadId = trainer.Pad,
            AddDummyPrefix = normalizer.AddDummyPrefix, IsBpe = trainer.ModelType == BpeModelType, ByteFallback = trainer.ByteFallback,
            RemoveExtraWhitespaces = normalizer.RemoveExtraWhitespaces,
            NormalizesOnlySpaces = (normalizer.Name is null or "identity" || !normalizer.HasCharsMap) && normalizer.EscapeWhitespaces && !trainer.WhitespaceAsSuffix,
        };
    }

    private static SentencePieceEntry ReadPiece(ByteString message)
    {
        string text = "";
        float score = 0;
        var type = SentencePieceType.Normal;
        var input = message.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case PieceText: text = input.ReadString(); break;
                case PieceScore: score = input.ReadFloat(); break;
                case PieceType: type = (SentencePieceType)input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        return new SentencePieceEntry(text, score, type);
    }

    // Defaults are sentencepiece_model.proto's: unigram, unk 0, bos 1, eos 2, no padding; dummy prefix and space escape on.
    private record struct TrainerFields(int ModelType = 1, int Unk = 0, int Bos = 1, int Eos = 2, int Pad = -1, bool ByteFallback = false, bool WhitespaceAsSuffix = false)
    {
        public TrainerFields() : this(1) { }
    }

    private record struct NormalizerFields(string? Name = null, bool HasCharsMap = false, bool AddDummyPrefix = true, bool RemoveExtraWhitespaces = true, bool EscapeWhitespaces = true)
    {
        public NormalizerFields() : this(null) { }
    }

    private static TrainerFields ReadTrainerSpec(ByteString message)
    {
        var fields = new TrainerFields();
        var input = message.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case TrainerModelType: fields.ModelType = input.ReadEnum(); break;
                case TrainerTreatWhitespaceAsSuffix: fields.WhitespaceAsSuffix = input.ReadBool(); break;
                case TrainerByteFallback: fields.ByteFallback = input.ReadBool(); break;
                case TrainerUnkId: fields.Unk = input.ReadInt32(); break;
                case TrainerBosId: fields.Bos = input.ReadInt32(); break;
                case TrainerEosId: fields.Eos = input.ReadInt32(); break;
                case TrainerPadId: fields.Pad = input.ReadInt32(); break;
                default: input.SkipLastField(); break;
            }
        }
        return fields;
    }

    private static NormalizerFields ReadNormalizerSpec(ByteString message)
    {
        var fields = new NormalizerFields();
        var input = message.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case NormalizerName: fields.Name = input.ReadString(); break;
                case NormalizerPrecompiledCharsMap: fields.HasCharsMap = input.ReadBytes().Length > 0; break;
                case NormalizerAddDummyPrefix: fields.AddDummyPrefix = input.ReadBool(); break;
                case NormalizerRemoveExtraWhitespaces: fields.RemoveExtraWhitespaces = input.ReadBool(); break;
                case NormalizerEscapeWhitespaces: fields.EscapeWhitespaces = input.ReadBool(); break;
                default: input.SkipLastField(); break;
            }
        }
        return fields;
    }
}
