using Google.Protobuf;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Reads the vocabulary of a SentencePiece tokenizer.model (a ModelProto): pieces (field 1: piece 1, score 2, type 3),
/// the special ids of its TrainerSpec (field 2: unk 40, bos 41, eos 42) and add_dummy_prefix of its NormalizerSpec
/// (field 3, 3). Other fields are skipped.
/// </summary>
public sealed class SentencePieceModelReader
{
    public List<string> Pieces { get; } = [];

    public List<float> Scores { get; } = [];

    public List<int> Types { get; } = [];

    public int UnknownId { get; private set; }

    public int BosId { get; private set; } = 1;

    public int EosId { get; private set; } = 2;

    public bool AddDummyPrefix { get; private set; } = true;

    public static SentencePieceModelReader Read(string path)
    {
        var result = new SentencePieceModelReader();
        var input = new CodedInputStream(File.ReadAllBytes(path));
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: result.ReadPiece(new CodedInputStream(input.ReadBytes().ToByteArray())); break;
                case 2: result.ReadTrainerSpec(new CodedInputStream(input.ReadBytes().ToByteArray())); break;
                case 3: result.ReadNormalizerSpec(new CodedInputStream(input.ReadBytes().ToByteArray())); break;
                default: input.SkipLastField(); break;
            }
        }
        return result;
    }

    private void ReadPiece(CodedInputStream input)
    {
        string piece = "";
        float score = 0;
        int type = 1;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1: piece = input.ReadString(); break;
                case 2: score = input.ReadFloat(); break;
                case 3: type = input.ReadEnum(); break;
                default: input.SkipLastField(); break;
            }
        }
        Pieces.Add(piece);
        Scores.Add(score);
        Types.Add(type);
    }

    private void ReadTrainerSpec(CodedInputStream input)
    {
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 40: UnknownId = input.ReadInt32(); break;
                case 41: BosId = input.ReadInt32(); break;
                case 42: EosId = input.ReadInt32(); break;
                default: input.SkipLastField(); break;
            }
        }
    }

    private void ReadNormalizerSpec(CodedInputStream input)
    {
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagFieldNumber(tag) == 3) AddDummyPrefix = input.ReadBool();
            else input.SkipLastField();
        }
    }
}
