using LlmCpu.Engine;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>FromGgufMetadata refuses inconsistent or unknown metadata, naming the GGUF key.</summary>
public sealed class ByteLevelBpeGgufMetadataTests
{
    private const string SourcePath = "/models/test.gguf";

    /// <summary>The 256 byte symbols (id = byte value), "he" 256 and "<|end|>" 257 as a control token.</summary>
    private static (List<string> Tokens, List<int> Types, List<string> Merges) Small()
    {
        var tokens = Enumerable.Range(0, 256).Select(b => TokenizerJsonBuilder.ByteSymbol((byte)b)).ToList();
        tokens.Add("he");
        tokens.Add("<|end|>");
        var types = Enumerable.Repeat(1, 257).Append(3).ToList();
        return (tokens, types, ["h e"]);
    }

    private static ByteLevelBpeTextTokenizer Create(List<string> tokens, List<int> types, List<string> merges,
        string? pre = "gpt-2", int bos = 257, int eos = 257) =>
        ByteLevelBpeTextTokenizer.FromGgufMetadata(tokens, types, merges, pre, bos, eos, addBos: false, SourcePath);

    [Fact]
    public void SmallVocabulary_Encodes()
    {
        var (tokens, types, merges) = Small();

        var tokenizer = Create(tokens, types, merges);

        Assert.Equal([256, 32, 256, 257], tokenizer.Encode("he he<|end|>", addBos: false));
        Assert.Equal(257, tokenizer.EosTokenId);
        Assert.Equal("gpt-2", tokenizer.PreTokenizer);
    }

    [Fact]
    public void ByteMissingFromVocabulary_IsDroppedAndNoMergeSpansIt()
    {
        // Falcon's vocabulary, for one, has no entry for several control bytes. llama.cpp drops such a byte,
        // and the pieces on either side stay apart.
        var (tokens, types, _) = Small();
        tokens[3] = "<unused>";
        types[3] = 5;
        tokens.Add("!!");
        types.Add(1);
        var tokenizer = Create(tokens, types, ["h e", "! !"]);

        Assert.Equal([258], tokenizer.Encode("!!", addBos: false));
        Assert.Equal([33, 33], tokenizer.Encode("!\u0003!", addBos: false)); // '!' is byte 0x21, id 33
    }

    [Theory]
    [InlineData("tekken")]
    [InlineData("default")]
    [InlineData(null)]
    public void UnknownOrMissingPreTokenizer_IsNotSupported(string? pre)
    {
        var (tokens, types, merges) = Small();

        var ex = Assert.Throws<ModelNotSupportedException>(() => Create(tokens, types, merges, pre));

        Assert.Equal("tokenizer.ggml.pre", ex.Field);
        Assert.Equal(SourcePath, ex.FilePath);
    }

    [Fact]
    public void TokenTypeCountMismatch_NamesTokenType()
    {
        var (tokens, types, merges) = Small();
        types.RemoveAt(types.Count - 1);

        Assert.Equal("tokenizer.ggml.token_type", Assert.Throws<ModelFormatException>(() => Create(tokens, types, merges)).Field);
    }

    [Fact]
    public void UnknownTokenType_NamesTokenType()
    {
        var (tokens, types, merges) = Small();
        types[10] = 9;

        Assert.Equal("tokenizer.ggml.token_type", Assert.Throws<ModelFormatException>(() => Create(tokens, types, merges)).Field);
    }

    [Fact]
    public void EmptyVocabulary_NamesTokens()
    {
        Assert.Equal("tokenizer.ggml.tokens", Assert.Throws<ModelFormatException>(() => Create([], [], [])).Field);
    }

    [Theory]
    [InlineData("he")]
    [InlineData("h  e")]
    [InlineData("h z")]
    public void BadMerge_NamesMerges(string merge)
    {
        var (tokens, types, _) = Small();

        var ex = Assert.Throws<ModelFormatException>(() => Create(tokens, types, [merge]));

        Assert.Equal("tokenizer.ggml.merges", ex.Field);
    }

    [Theory]
    [InlineData(258, 257, "tokenizer.ggml.bos_token_id")]
    [InlineData(-2, 257, "tokenizer.ggml.bos_token_id")]
    [InlineData(257, 1000, "tokenizer.ggml.eos_token_id")]
    public void TokenIdOutsideVocabulary_NamesTheKey(int bos, int eos, string field)
    {
        var (tokens, types, merges) = Small();

        Assert.Equal(field, Assert.Throws<ModelFormatException>(() => Create(tokens, types, merges, bos: bos, eos: eos)).Field);
    }

    [Fact]
    public void MissingBosAndEos_AreAllowedAndAddNothing()
    {
        var (tokens, types, merges) = Small();

        var tokenizer = Create(tokens, types, merges, bos: -1, eos: -1);

        Assert.Equal(-1, tokenizer.BosTokenId);
        Assert.Equal([256], tokenizer.Encode("he", addBos: true));
    }

    [Theory]
    [InlineData("llama-bpe", true)]
    [InlineData("qwen2", false)]
    [InlineData("gpt-2", false)]
    [InlineData(null, false)]
    public void AddsBosByDefault_FollowsTheFamily(string? pre, bool expected)
    {
        Assert.Equal(expected, ByteLevelBpeTextTokenizer.AddsBosByDefault(pre));
    }
}
