using System.Text.Json;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// SentencePiece's BPE rules beyond whitespace, on a vocabulary of nineteen pieces (tests/Unit/TestData/spm-whitespace/
/// tiny.json, its ids from the sentencepiece library by tools/tokenizer-vectors/spm_whitespace_cases.py): equal scores
/// of different pieces merge leftmost first ("aaa" is ▁ aa a), a user-defined piece is one symbol that never merges,
/// an unused piece that nothing merges on is split back into its parts ("ba" is b a, "bab" stays), and a run of
/// characters the vocabulary lacks is one unknown piece when there is no byte fallback.
/// </summary>
public sealed class SentencePieceBpeSemanticsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-spm-tiny-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MatchesSentencePieceOnTheTinyVocabulary()
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepoPaths.TestData, "spm-whitespace", "tiny.json")));
        var pieces = json.RootElement.GetProperty("pieces").EnumerateArray().ToArray();
        string path = new TestGgufWriter()
            .Add("tokenizer.ggml.model", "llama")
            .Add("tokenizer.ggml.tokens", pieces.Select(p => p.GetProperty("piece").GetString()!).ToArray())
            .Add("tokenizer.ggml.scores", pieces.Select(p => p.GetProperty("score").GetSingle()).ToArray())
            .Add("tokenizer.ggml.token_type", pieces.Select(p => p.GetProperty("type").GetInt32()).ToArray())
            .Write(Path.Combine(_dir, "tiny.gguf"));
        using var file = GgufFile.Open(path);
        var tokenizer = GgufTokenizerFactory.Create(file);

        var cases = json.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (Text: c.GetProperty("text").GetString()!, Ids: c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
        Assert.Equal(16, cases.Count);
        Assert.All(cases, c => Assert.Equal(c.Ids, tokenizer.Encode(c.Text, addBos: false)));
        // The rules the cases are there for, spelled out.
        Assert.Equal([4, 11, 5], cases.Single(c => c.Text == "aaa").Ids);      // ▁ aa a, not ▁a aa
        Assert.Equal([4, 6, 5], cases.Single(c => c.Text == "ba").Ids);        // the unused "ba" split back
        Assert.Equal([16, 3, 5], cases.Single(c => c.Text == "a<u>a").Ids);    // <u> whole, never merged
        Assert.Equal([4, 0, 16], cases.Single(c => c.Text == "zz a").Ids);     // one unknown piece for "zz"
    }
}
