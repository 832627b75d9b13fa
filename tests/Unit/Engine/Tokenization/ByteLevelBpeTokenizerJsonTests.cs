using System.Text.Json.Nodes;
using LlmCpu.Engine;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>Byte-level BPE read from Hugging Face tokenizer.json: equal to the GGUF-metadata tokenizer on the reference cases, and strict about malformed files.</summary>
public sealed class ByteLevelBpeTokenizerJsonTests : IDisposable
{
    /// <summary>Llama 3's expression as its tokenizer.json writes it, with a case-insensitive group.</summary>
    private const string Llama3HuggingFaceRegex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's expression as its tokenizer.json writes it.</summary>
    private const string Qwen2HuggingFaceRegex =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "llmcpu-tokenizer-json-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void Gpt2File_EncodesLikeGgufMetadataAndReference()
    {
        var data = BpeVocabData.Get("gpt-2");
        var json = TokenizerJsonBuilder.FromVocab(data, TokenizerJsonBuilder.ByteLevelPreTokenizer());

        var tokenizer = ByteLevelBpeTextTokenizer.FromTokenizerJson(TokenizerJsonBuilder.Write(json, _folder));

        Assert.Equal(data.Tokens.Length, tokenizer.VocabularySize);
        Assert.False(tokenizer.AddBosByDefault);
        AssertMatchesReference(data, tokenizer);
    }

    [Fact]
    public void Llama3File_WithSplitStepPairMergesAndBosTemplate_EncodesLikeReference()
    {
        var data = BpeVocabData.Get("llama-bpe");
        var json = TokenizerJsonBuilder.FromVocab(data, TokenizerJsonBuilder.SplitThenByteLevel(Llama3HuggingFaceRegex),
            ignoreMerges: true, mergesAsPairs: true);
        json["post_processor"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["processors"] = new JsonArray
            {
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
                TokenizerJsonBuilder.BosTemplate("<|begin_of_text|>", 128000),
            },
        };

        var tokenizer = ByteLevelBpeTextTokenizer.FromTokenizerJson(TokenizerJsonBuilder.Write(json, _folder));

        Assert.Equal(128000, tokenizer.BosTokenId);
        Assert.True(tokenizer.AddBosByDefault);
        AssertMatchesReference(data, tokenizer);
    }

    [Fact]
    public void Qwen2File_WithNfcNormalizer_EncodesLikeReference()
    {
        // None of the reference inputs changes under NFC, so llama.cpp's ids (which skip normalization) still apply.
        var data = BpeVocabData.Get("qwen2");
        var json = TokenizerJsonBuilder.FromVocab(data, TokenizerJsonBuilder.SplitThenByteLevel(Qwen2HuggingFaceRegex));
        json["normalizer"] = new JsonObject { ["type"] = "NFC" };

        var tokenizer = ByteLevelBpeTextTokenizer.FromTokenizerJson(TokenizerJsonBuilder.Write(json, _folder));

        Assert.Equal(-1, tokenizer.BosTokenId);
        AssertMatchesReference(data, tokenizer);
    }

    [Fact]
    public void SmallFile_MergesAndMatchesSpecialToken()
    {
        var tokenizer = ByteLevelBpeTextTokenizer.FromTokenizerJson(TokenizerJsonBuilder.Write(TokenizerJsonBuilder.Small(), _folder));

        // "hello" merges to one token; " hello" is the space symbol (byte 0x20) then "hello", since no merge joins them.
        Assert.Equal([259, 32, 259, 260], tokenizer.Encode("hello hello<|end|>", addBos: false));
        Assert.Equal("hello hello", tokenizer.Decode([259, 32, 259, 260]));
    }

    [Fact]
    public void AddPrefixSpace_PutsASpaceBeforeTextBetweenSpecialTokens()
    {
        var json = TokenizerJsonBuilder.Small();
        json["pre_tokenizer"] = TokenizerJsonBuilder.ByteLevelPreTokenizer(addPrefixSpace: true);

        var tokenizer = ByteLevelBpeTextTokenizer.FromTokenizerJson(TokenizerJsonBuilder.Write(json, _folder));

        Assert.Equal([32, 259, 260, 32, 259], tokenizer.Encode("hello<|end|>hello", addBos: false));
    }

    public static TheoryData<string, Action<JsonObject>> MalformedFiles() => new()
    {
        { "model", json => json.Remove("model") },
        { "model.type", json => Model(json).Remove("type") },
        { "model.vocab", json => Model(json).Remove("vocab") },
        { "model.vocab", json => Model(json)["vocab"]!["he"] = "256" },
        { "model.vocab", json => Model(json)["vocab"]!["hi"] = 256 },
        { "model.merges", json => Model(json).Remove("merges") },
        { "model.merges[1]", json => Model(json)["merges"]![1] = "ll" },
        { "model.merges[0]", json => Model(json)["merges"]![0] = new JsonArray("h") },
        { "model.merges", json => ((JsonArray)Model(json)["merges"]!).Add("x y") },
        { "added_tokens[0].id", json => ((JsonObject)json["added_tokens"]![0]!).Remove("id") },
        { "added_tokens[0].content", json => json["added_tokens"]![0]!["content"] = 5 },
        { "added_tokens[0]", json => json["added_tokens"]![0]!["id"] = 259 },
        { "pre_tokenizer.pretokenizers[0].pattern", json => json["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray { new JsonObject { ["type"] = "Split", ["behavior"] = "Isolated" }, TokenizerJsonBuilder.ByteLevelPreTokenizer(useRegex: false) },
            } },
        { "post_processor.special_tokens", json => json["post_processor"] = TokenizerJsonBuilder.BosTemplate("<s>", 9999) },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void MalformedFile_ThrowsModelFormatExceptionNamingTheField(string field, Action<JsonObject> damage)
    {
        var json = TokenizerJsonBuilder.Small();
        damage(json);
        string path = TokenizerJsonBuilder.Write(json, _folder);

        var ex = Assert.ThrowsAny<ModelFormatException>(() => ByteLevelBpeTextTokenizer.FromTokenizerJson(path));

        Assert.IsNotType<ModelNotSupportedException>(ex);
        Assert.Equal(field, ex.Field);
        Assert.Equal(path, ex.FilePath);
    }

    public static TheoryData<string, Action<JsonObject>> UnsupportedFiles() => new()
    {
        { "model.type", json => Model(json)["type"] = "WordPiece" },
        { "model.byte_fallback", json => Model(json)["byte_fallback"] = true },
        { "model.continuing_subword_prefix", json => Model(json)["continuing_subword_prefix"] = "##" },
        { "model.dropout", json => Model(json)["dropout"] = 0.1 },
        { "pre_tokenizer", json => json.Remove("pre_tokenizer") },
        { "pre_tokenizer.type", json => json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁" } },
        { "pre_tokenizer", json => json["pre_tokenizer"] = TokenizerJsonBuilder.SplitThenByteLevel(@"\s+")["pretokenizers"]![0]!.DeepClone() },
        { "pre_tokenizer.pretokenizers[0].behavior", json => json["pre_tokenizer"] = SplitWithBehavior("Removed") },
        { "normalizer.type", json => json["normalizer"] = new JsonObject { ["type"] = "Lowercase" } },
        { "added_tokens[0].single_word", json => json["added_tokens"]![0]!["single_word"] = true },
        { "post_processor.type", json => json["post_processor"] = new JsonObject { ["type"] = "RobertaProcessing" } },
    };

    [Theory]
    [MemberData(nameof(UnsupportedFiles))]
    public void UnsupportedFile_ThrowsModelNotSupportedExceptionNamingTheField(string field, Action<JsonObject> change)
    {
        var json = TokenizerJsonBuilder.Small();
        change(json);
        string path = TokenizerJsonBuilder.Write(json, _folder);

        var ex = Assert.Throws<ModelNotSupportedException>(() => ByteLevelBpeTextTokenizer.FromTokenizerJson(path));

        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void InvalidJson_ThrowsModelFormatException()
    {
        Directory.CreateDirectory(_folder);
        string path = Path.Combine(_folder, "tokenizer.json");
        File.WriteAllText(path, "{ \"model\": ");

        var ex = Assert.Throws<ModelFormatException>(() => ByteLevelBpeTextTokenizer.FromTokenizerJson(path));

        Assert.Equal("tokenizer.json", ex.Field);
    }

    private static JsonObject SplitWithBehavior(string behavior)
    {
        var sequence = TokenizerJsonBuilder.SplitThenByteLevel(@"\s+");
        sequence["pretokenizers"]![0]!["behavior"] = behavior;
        return sequence;
    }

    private static JsonObject Model(JsonObject json) => (JsonObject)json["model"]!;

    private static void AssertMatchesReference(BpeVocabData data, ByteLevelBpeTextTokenizer tokenizer)
    {
        foreach (var reference in data.Cases)
        {
            int[] ids = tokenizer.Encode(reference.Text, addBos: false, parseSpecial: false);
            Assert.Equal(reference.Ids, ids);
            Assert.Equal(data.Tokenizer.Encode(reference.Text, addBos: false, parseSpecial: false), ids);
        }
    }
}
