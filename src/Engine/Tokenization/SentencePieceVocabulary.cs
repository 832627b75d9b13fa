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
    private const int TrainerUnkId = 40, TrainerBosId = 41, TrainerEosId = 42, TrainerPadId = 43;
    private const int NormalizerAddDummyPrefix = 3;

    public required IReadOnlyList<SentencePieceEntry> Pieces { get; init; }

    public int UnknownId { get; init; }

    public int BosId { get; init; } = 1;

    public int EosId { get; init; } = 2;

    /// <summary>-1 when the model has no padding piece.</summary>
    public int PadId { get; init; } = -1;

    /// <summary>Whether text gets a leading space (U+2581) before it is split, as SentencePiece's default normalizer does.</summary>
    public bool AddDummyPrefix { get; init; } = true;

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
        int unk = 0, bos = 1, eos = 2, pad = -1;
        bool addDummyPrefix = true;
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
                    (unk, bos, eos, pad) = ReadSpecialIds(input.ReadBytes());
                    break;
                case ModelNormalizerSpec when WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited:
                    addDummyPrefix = ReadAddDummyPrefix(input.ReadBytes());
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }
        return new SentencePieceVocabulary { Pieces = pieces, UnknownId = unk, BosId = bos, EosId = eos, PadId = pad, AddDummyPrefix = addDummyPrefix };
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

    private static (int Unk, int Bos, int Eos, int Pad) ReadSpecialIds(ByteString message)
    {
        int unk = 0, bos = 1, eos = 2, pad = -1;
        var input = message.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case TrainerUnkId: unk = input.ReadInt32(); break;
                case TrainerBosId: bos = input.ReadInt32(); break;
                case TrainerEosId: eos = input.ReadInt32(); break;
                case TrainerPadId: pad = input.ReadInt32(); break;
                default: input.SkipLastField(); break;
            }
        }
        return (unk, bos, eos, pad);
    }

    private static bool ReadAddDummyPrefix(ByteString message)
    {
        bool add = true;
        var input = message.CreateCodedInput();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == NormalizerAddDummyPrefix) add = input.ReadBool();
            else input.SkipLastField();
        }
        return add;
    }
}
