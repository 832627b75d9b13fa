using System.Text;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// The SentencePiece tokenizer built from a GGUF file's metadata against llama.cpp's reference tokenizations of the
/// Llama 2 vocabulary (tests/Unit/TestData/llama-vocab: texts in .inp, ids without BOS in .out).
/// </summary>
public sealed class GgufTokenizerTests : IDisposable
{
    private static readonly string VocabFolder = Path.Combine(RepoPaths.TestData, "llama-vocab");
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-ggufvocab-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The cases as llama.cpp's tokenizer test reads them: texts separated by a marker line, one line of ids each.</summary>
    public static IReadOnlyList<(string Text, int[] Ids)> ReferenceCases()
    {
        const string separator = "\n__ggml_vocab_test__\n";
        string input = File.ReadAllText(Path.Combine(VocabFolder, "ggml-vocab-llama-spm.gguf.inp"), Encoding.UTF8);
        var texts = new List<string>();
        for (int position = 0; position < input.Length;)
        {
            int next = input.IndexOf(separator, position, StringComparison.Ordinal);
            if (next < 0) { texts.Add(input[position..]); break; }
            texts.Add(input[position..next]);
            position = next + separator.Length;
        }
        var outputs = File.ReadAllLines(Path.Combine(VocabFolder, "ggml-vocab-llama-spm.gguf.out"));
        Assert.Equal(texts.Count, outputs.Length);
        return texts.Zip(outputs, (text, line) => (text, line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }

    [Fact]
    public void MatchesLlamaCppReferenceTokenizations()
    {
        using var file = GgufFile.Open(Path.Combine(VocabFolder, "ggml-vocab-llama-spm.gguf"));
        var tokenizer = GgufTokenizerFactory.Create(file);
        Assert.Equal(32000, tokenizer.VocabularySize);
        Assert.Equal(1, tokenizer.BosTokenId);

        var cases = ReferenceCases();
        Assert.True(cases.Count >= 30, $"only {cases.Count} cases read");
        // Every case, "!!!!!!" and the long mixed one with "------=======" included: equal-score merges go leftmost first.
        var failures = new List<string>();
        foreach (var (text, ids) in cases)
        {
            var actual = tokenizer.Encode(text, addBos: false);
            if (!actual.SequenceEqual(ids)) failures.Add($"'{Escape(text)}': expected [{string.Join(' ', ids)}], got [{string.Join(' ', actual)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void BosIsAddedOnRequestAndDecodingReturnsTheText()
    {
        using var file = GgufFile.Open(Path.Combine(VocabFolder, "ggml-vocab-llama-spm.gguf"));
        var tokenizer = GgufTokenizerFactory.Create(file);
        var ids = tokenizer.Encode("Hello world", addBos: true);
        Assert.Equal([1, 15043, 3186], ids);
        Assert.Equal("Hello world", tokenizer.Decode(ids));
        // Byte fallback: a character outside the vocabulary becomes its UTF-8 bytes and decodes back.
        Assert.Equal(" this is 🦙.cpp", tokenizer.Decode(tokenizer.Encode(" this is 🦙.cpp", addBos: false)));
    }

    [Theory]
    [InlineData("gpt-2")]
    [InlineData("llama-bpe")]
    public void ByteLevelBpeFromGgufMetadataMatchesTheReferenceIds(string name)
    {
        var data = BpeVocabData.Get(name);
        var writer = new TestGgufWriter()
            .Add("tokenizer.ggml.model", "gpt2")
            .Add("tokenizer.ggml.tokens", data.Tokens)
            .Add("tokenizer.ggml.token_type", data.TokenTypes)
            .Add("tokenizer.ggml.merges", data.Merges)
            .Add("tokenizer.ggml.bos_token_id", data.BosId)
            .Add("tokenizer.ggml.eos_token_id", data.EosId)
            .Add("tokenizer.ggml.add_bos_token", data.AddBos);
        if (data.Pre != null) writer.Add("tokenizer.ggml.pre", data.Pre);
        using var file = GgufFile.Open(writer.Write(Path.Combine(_dir, name + ".gguf")));
        var tokenizer = Assert.IsType<ByteLevelBpeTextTokenizer>(GgufTokenizerFactory.Create(file));
        Assert.Equal(data.AddBos, tokenizer.AddBosByDefault);
        foreach (var reference in data.Cases) Assert.Equal(reference.Ids, tokenizer.Encode(reference.Text, addBos: false, parseSpecial: false));
    }

    [Fact]
    public void AnUnknownTokenizerModelIsNotSupported()
    {
        string path = new TestGgufWriter().Add("tokenizer.ggml.model", "rwkv").Add("tokenizer.ggml.tokens", ["a", "b"]).Write(Path.Combine(_dir, "rwkv.gguf"));
        using var file = GgufFile.Open(path);
        var ex = Assert.Throws<ModelNotSupportedException>(() => GgufTokenizerFactory.Create(file));
        Assert.Equal("metadata 'tokenizer.ggml.model'", ex.Field);
    }

    [Theory]
    [InlineData("scores", "metadata 'tokenizer.ggml.scores'")]
    [InlineData("types", "metadata 'tokenizer.ggml.token_type'")]
    [InlineData("bos", "metadata 'tokenizer.ggml.bos_token_id'")]
    [InlineData("model", "metadata 'tokenizer.ggml.model'")]
    [InlineData("tokens", "metadata 'tokenizer.ggml.tokens'")]
    public void RefusesInconsistentTokenizerMetadata(string damage, string field)
    {
        var writer = new TestGgufWriter();
        if (damage != "model") writer.Add("tokenizer.ggml.model", "llama");
        if (damage != "tokens") writer.Add("tokenizer.ggml.tokens", ["<unk>", "<s>", "</s>", "a"]);
        writer.Add("tokenizer.ggml.scores", damage == "scores" ? new[] { 0f, 0f } : [0f, 0f, 0f, -1f]);
        writer.Add("tokenizer.ggml.token_type", damage == "types" ? new[] { 2, 3, 3, 9 } : [2, 3, 3, 1]);
        if (damage == "bos") writer.Add("tokenizer.ggml.bos_token_id", 4u);
        using var file = GgufFile.Open(writer.Write(Path.Combine(_dir, damage + ".gguf")));
        var ex = Assert.ThrowsAny<ModelFormatException>(() => GgufTokenizerFactory.Create(file));
        Assert.Equal(field, ex.Field);
    }

    private static string Escape(string text) => text.Replace("\n", "\\n").Replace("\t", "\\t");
}
