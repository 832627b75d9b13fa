using LlmCpu.Engine;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>Pieces, scores, types and special ids read from a tokenizer.model (SentencePiece ModelProto).</summary>
public sealed class SentencePieceVocabularyTests
{
    [Fact]
    public void FixtureVocabularyHasItsSpecialAndBytePieces()
    {
        var vocabulary = SentencePieceVocabulary.Load(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model"));
        Assert.Equal(4096, vocabulary.Pieces.Count);
        Assert.Equal(new SentencePieceEntry("<unk>", 0, SentencePieceType.Unknown), vocabulary.Pieces[0]);
        Assert.Equal(new SentencePieceEntry("<s>", 0, SentencePieceType.Control), vocabulary.Pieces[1]);
        Assert.Equal(new SentencePieceEntry("</s>", 0, SentencePieceType.Control), vocabulary.Pieces[2]);
        Assert.Equal(new SentencePieceEntry("<0x00>", 0, SentencePieceType.Byte), vocabulary.Pieces[3]);
        Assert.Equal(256, vocabulary.Pieces.Count(p => p.Type == SentencePieceType.Byte));
        Assert.Equal(new SentencePieceEntry("\u2581t", -0f, SentencePieceType.Normal), vocabulary.Pieces[259]);
        Assert.Equal(-1f, vocabulary.Pieces[260].Score);
        Assert.Equal((0, 1, 2, -1), (vocabulary.UnknownId, vocabulary.BosId, vocabulary.EosId, vocabulary.PadId));
        Assert.True(vocabulary.AddDummyPrefix);
    }

    [Fact]
    public void MissingFieldsTakeSentencePieceDefaultsAndUnknownFieldsAreSkipped()
    {
        byte[] proto =
        [
            0x0A, 0x03, 0x0A, 0x01, (byte)'a',                    // piece "a": no score, no type
            0x0A, 0x08, 0x0A, 0x01, (byte)'b', 0x15, 0, 0, 0x80, 0xBF, // piece "b", score -1 (fixed32)
            0x1A, 0x02, 0x18, 0x00,                               // normalizer: add_dummy_prefix false
            0x12, 0x03, 0xC0, 0x02, 0x05,                         // trainer: unk_id (field 40) = 5
            0x50, 0x07,                                           // field 10, a varint this reader does not know
        ];
        var vocabulary = SentencePieceVocabulary.Parse(proto);
        Assert.Equal(new[] { new SentencePieceEntry("a", 0, SentencePieceType.Normal), new SentencePieceEntry("b", -1, SentencePieceType.Normal) },
            vocabulary.Pieces);
        Assert.False(vocabulary.AddDummyPrefix);
        Assert.Equal((5, 1, 2), (vocabulary.UnknownId, vocabulary.BosId, vocabulary.EosId));
    }

    [Fact]
    public void ADamagedFileIsAFormatError()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("llmcpu-spm-").FullName, "tokenizer.model");
        try
        {
            File.WriteAllBytes(path, [0x0A, 0x7F, 0x01]);
            Assert.Throws<ModelFormatException>(() => SentencePieceVocabulary.Load(path));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
