using System.Text.Json;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;
using Microsoft.ML.Tokenizers;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// Whitespace runs against SentencePiece itself: tests/Unit/TestData/spm-whitespace holds the sentencepiece library's
/// ids (made by tools/tokenizer-vectors/spm_whitespace_cases.py) for runs of 1..40 spaces alone, between words, at the
/// start and end of the text, and runs mixing spaces, tabs and newlines, in the fixture model's vocabulary and in the
/// Llama 2 vocabulary (ggml-vocab-llama-spm.gguf). Equal-score merges meet in such runs, so they show the merge order.
/// </summary>
public sealed class SentencePieceWhitespaceParityTests
{
    private static string Cases(string name) => Path.Combine(RepoPaths.TestData, "spm-whitespace", name + ".json");

    private static string LlamaVocabulary => Path.Combine(RepoPaths.TestData, "llama-vocab", "ggml-vocab-llama-spm.gguf");

    private static string FixtureTokenizer => Path.Combine(RepoPaths.FixtureModel, "tokenizer.model");

    private static List<(string Text, int[] Ids)> Read(string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Cases(name)));
        return json.RootElement.EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
    }

    private static TextTokenizer LlamaSpm()
    {
        using var file = GgufFile.Open(LlamaVocabulary);
        return GgufTokenizerFactory.Create(file);
    }

    public static TheoryData<string> Vocabularies => ["austen-llama", "llama-spm"];

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void MatchesSentencePieceOnWhitespaceRuns(string name)
    {
        var tokenizer = name == "llama-spm" ? LlamaSpm() : SentencePieceTextTokenizer.Load(FixtureTokenizer);
        var cases = Read(name);
        Assert.True(cases.Count > 200, $"only {cases.Count} cases read");
        // Every run length 1..40 is there, alone and after a word.
        for (int n = 1; n <= 40; n++)
        {
            Assert.Contains(cases, c => c.Text == new string(' ', n));
            Assert.Contains(cases, c => c.Text == "x" + new string(' ', n));
        }
        var failures = cases.Where(c => !tokenizer.Encode(c.Text, addBos: false).SequenceEqual(c.Ids))
            .Select(c => $"'{Escape(c.Text)}': expected [{string.Join(' ', c.Ids)}], got [{string.Join(' ', tokenizer.Encode(c.Text, addBos: false))}]")
            .ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} differ:\n" + string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void ElevenSpacesAfterAWordAreEightThenTwoThenOne()
    {
        var tokenizer = SentencePieceTextTokenizer.Load(FixtureTokenizer);
        var pieces = SentencePieceVocabulary.Load(FixtureTokenizer).Pieces;
        string[] Pieces(int[] ids) => [.. ids.Select(id => pieces[id].Piece)];

        // As spm_encode writes "x" followed by eleven spaces: ▁ x ▁▁▁▁▁▁▁▁ ▁▁ ▁.
        Assert.Equal(["\u2581", "x", new string('\u2581', 8), "\u2581\u2581", "\u2581"], Pieces(tokenizer.Encode("x" + new string(' ', 11), addBos: false)));
    }

    /// <summary>
    /// The cause, kept in view: Microsoft.ML.Tokenizers 2.0.1 merges the rightmost of equal-score pairs first. Of
    /// eleven spaces it pairs them from the right (leaving the first alone), then pairs the pairs from the right, so on
    /// its own it splits the run ▁ ▁▁ ▁▁▁▁▁▁▁▁, where SentencePiece, pairing from the left, leaves the last alone. When
    /// a later version agrees with SentencePiece, this fails, and the library could segment these models again.
    /// </summary>
    [Fact]
    public void TheLibraryAloneMergesEqualScoresRightmostFirst()
    {
        using var stream = File.OpenRead(FixtureTokenizer);
        var library = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        var pieces = SentencePieceVocabulary.Load(FixtureTokenizer).Pieces;
        string[] libraryPieces = [.. library.EncodeToIds("x" + new string(' ', 11), addBeginningOfSentence: false, addEndOfSentence: false).Select(id => pieces[id].Piece)];

        Assert.Equal(["\u2581", "x", "\u2581", "\u2581\u2581", new string('\u2581', 8)], libraryPieces);
    }

    [Fact]
    public void EncodeLiteralWithoutDummyPrefixKeepsTheSameMergeOrder()
    {
        var tokenizer = SentencePieceTextTokenizer.Load(FixtureTokenizer);
        // Continuing text gets no dummy prefix: the eleven spaces alone, and "x" then eleven spaces, equal the
        // reference case of the same text with its leading marker piece removed.
        var reference = Read("austen-llama").Single(c => c.Text == "x" + new string(' ', 11)).Ids;
        Assert.Equal(reference[1..], tokenizer.EncodeLiteral("x" + new string(' ', 11), startsStretch: false));
        Assert.Equal(reference, tokenizer.EncodeLiteral("x" + new string(' ', 11), startsStretch: true));
    }

    private static string Escape(string text) => text.Replace("\n", "\\n").Replace("\t", "\\t");
}
