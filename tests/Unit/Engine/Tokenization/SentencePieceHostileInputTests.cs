using Google.Protobuf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// Damaged tokenizer.model files (SentencePiece ModelProto): cut at every field boundary, special ids out of range,
/// piece types, scores and texts given boundary values, NaN and infinite scores, invalid UTF-8, random bytes. Read both
/// ways the engine reads them (the tokenizer, and the vocabulary ConvertTo-Gguf copies), then used; and a few hundred
/// inside a Hugging Face folder loaded as a model.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class SentencePieceHostileInputTests(ITestOutputHelper output)
{
    private const string FileName = "tokenizer.model";

    private HostileCampaign Campaign(string name) => new("tokenizer.model " + name, output)
    {
        Load = folder =>
        {
            string path = Path.Combine(folder, FileName);
            var tokenizer = SentencePieceTextTokenizer.Load(path);
            _ = SentencePieceVocabulary.Load(path);
            return tokenizer;
        },
        Target = FileName,
        Exercise = TokenizerUse.EncodeAndDecode,
    };

    [Fact]
    public void CutAtEveryFieldBoundary()
    {
        byte[] seed = TinySentencePiece.ModelBytes();
        var summary = Campaign("cut at every field boundary").Run(Boundaries(seed).Select(c => HostileCase.Single(FileName, seed[..c], $"cut at byte {c}")));
        Assert.True(summary.Cases > 300, summary.ToString());
    }

    [Fact]
    public void SpecialIdsAndPiecesWithBoundaryValues()
    {
        var random = new Random(HostileScale.Seed + 40);
        int[] ids = [-1, 0, 1, 2, 3, TinySentencePiece.PieceCount - 1, TinySentencePiece.PieceCount, int.MaxValue, int.MinValue, 1 << 20];
        var cases = new List<HostileCase>();
        foreach (int field in new[] { 40, 41, 42, 43 })
            foreach (int id in ids)
                cases.Add(HostileCase.Single(FileName, TinySentencePiece.WithTrainerFields(o => { o.WriteTag(field, WireFormat.WireType.Varint); o.WriteInt32(id); }),
                    $"trainer field {field} = {id}"));
        foreach (int modelType in new[] { 0, 1, 3, 4, 99, -1 })
            cases.Add(HostileCase.Single(FileName, TinySentencePiece.WithTrainerFields(o => { o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt32(modelType); }),
                $"model_type = {modelType}"));
        for (int i = 0; i < HostileScale.Cases(600); i++)
        {
            int piece = random.Next(3) == 0 ? random.Next(4) : random.Next(TinySentencePiece.PieceCount);
            var (edit, what) = PieceDamage(random);
            cases.Add(HostileCase.Single(FileName, TinySentencePiece.WithPiece(piece, edit), $"piece {piece}: {what}"));
        }
        var summary = Campaign("special ids and pieces").Run(cases);
        Assert.True(summary.Loaded > 0 && summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void RandomDamage()
    {
        var random = new Random(HostileScale.Seed + 41);
        byte[] seed = TinySentencePiece.ModelBytes();
        Campaign("random damage").Run(Enumerable.Range(0, HostileScale.Cases(1500)).Select(_ =>
        {
            var (bytes, damage) = HostileBytes.Havoc(seed, random);
            return HostileCase.Single(FileName, bytes, damage);
        }));
    }

    [Fact]
    public void DamagedTokenizerInAModelFolder()
    {
        var random = new Random(HostileScale.Seed + 42);
        byte[] seed = TinySentencePiece.ModelBytes();
        new HostileCampaign("tokenizer.model in a model folder", output)
        {
            Load = folder => ModelLoader.Load(folder),
            Exercise = model => ModelUse.Generate(model),
        }.Run(Enumerable.Range(0, HostileScale.Cases(200)).Select(_ =>
        {
            var (bytes, damage) = HostileBytes.Havoc(seed, random);
            return new HostileCase(damage, TinyModel.HuggingFaceFolder()).With(FileName, bytes, damage);
        }));
    }

    private static (Func<byte[], byte[]> Edit, string What) PieceDamage(Random random)
    {
        switch (random.Next(5))
        {
            case 0:
            {
                int type = new[] { 0, 1, 2, 3, 4, 5, 6, 7, 100, -1 }[random.Next(10)];
                return (body => Append(body, o => { o.WriteTag(3, WireFormat.WireType.Varint); o.WriteInt32(type); }), $"type {type}");
            }
            case 1:
            {
                float score = new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, -float.MaxValue, 0f }[random.Next(6)];
                return (body => Append(body, o => { o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(score); }), $"score {score}");
            }
            case 2:
            {
                string text = new[] { "", "<s>", "<unk>", "\u2581", "<0x41>", "<0xZZ>", "a", new string('x', 5000) }[random.Next(8)];
                return (body => Append(body, o => { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(text); }), $"text '{(text.Length > 20 ? text[..20] + "…" : text)}'");
            }
            case 3:
            {
                var invalid = HostileBytes.InvalidUtf8[random.Next(HostileBytes.InvalidUtf8.Length)];
                return (body => Append(body, o => { o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(invalid)); }),
                    $"text bytes {Convert.ToHexString(invalid)}");
            }
            default:
                return (_ => [], "empty");
        }
    }

    private static byte[] Append(byte[] body, Action<CodedOutputStream> write)
    {
        using var stream = new MemoryStream();
        stream.Write(body);
        var output = new CodedOutputStream(stream);
        write(output);
        output.Flush();
        return stream.ToArray();
    }

    /// <summary>Every offset where a top-level field or a field inside a piece starts or ends.</summary>
    private static IEnumerable<int> Boundaries(byte[] proto)
    {
        var cuts = new SortedSet<int>();
        var input = new CodedInputStream(proto);
        uint tag;
        while (true)
        {
            int start = (int)input.Position;
            if ((tag = input.ReadTag()) == 0) break;
            cuts.Add(start);
            cuts.Add((int)input.Position);
            int bodyStart = (int)input.Position;
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                var body = input.ReadBytes();
                int contentStart = (int)input.Position - body.Length;
                cuts.Add(contentStart);
                var inner = body.CreateCodedInput();
                uint innerTag;
                while (true)
                {
                    int innerStart = (int)inner.Position;
                    if ((innerTag = inner.ReadTag()) == 0) break;
                    cuts.Add(contentStart + innerStart);
                    inner.SkipLastField();
                }
            }
            else
            {
                input.SkipLastField();
            }
            cuts.Add((int)input.Position);
            _ = bodyStart;
        }
        cuts.Remove(proto.Length);
        return cuts;
    }
}
