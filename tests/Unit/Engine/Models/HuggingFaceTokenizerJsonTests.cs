using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>A Hugging Face folder with tokenizer.json (byte-level BPE) and no tokenizer.model loads and generates.</summary>
public sealed class HuggingFaceTokenizerJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-tokjson-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>GPT-2's printable stand-ins for the 256 byte values.</summary>
    private static List<string> ByteSymbols()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        int next = 256;
        return Enumerable.Range(0, 256).Select(b => ((char)(printable.Contains(b) ? b : next++)).ToString()).ToList();
    }

    [Fact]
    public void LoadsWithTheByteLevelTokenizer()
    {
        using var model = ModelLoader.Load(WriteFolder(out var vocab));
        Assert.IsType<ByteLevelBpeTextTokenizer>(model.Tokenizer);
        Assert.Equal([vocab["t"], vocab["he"]], model.Tokenizer.Encode("the", addBos: false));
        // Same weights as the SentencePiece fixture: given the same ids, the same logits, whatever the tokenizer.
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        int[] ids = [1, .. model.Tokenizer.Encode("the sea", addBos: false)];
        GreedyAgreement.AssertAgrees(original, model, ids, 8, margin: 0);
    }

    [Fact]
    public void AnInt4FileCarriesTheByteLevelTokenizer()
    {
        using var source = ModelLoader.Load(WriteFolder(out _));
        string path = Path.Combine(_dir, "bpe.llmc");
        Int4ModelConverter.Convert(source, path, new LlmCpu.Kernels.Quantization.Int4Format(32, false), LlmCpu.Kernels.Quantization.ActivationMode.Int8,
            overwrite: false, evaluationText: null);
        using var converted = ModelLoader.Load(path);
        var tokenizer = Assert.IsType<ByteLevelBpeTextTokenizer>(converted.Tokenizer);
        foreach (string text in (string[])["the sea", "  The  theatre, then!", "héllo \u2603"])
        {
            Assert.Equal(source.Tokenizer.Encode(text, addBos: true), tokenizer.Encode(text, addBos: true));
            Assert.Equal(text, tokenizer.Decode(source.Tokenizer.Encode(text, addBos: false)));
        }
    }

    /// <summary>The bundled model's files with a small byte-level tokenizer.json instead of its tokenizer.model.</summary>
    private string WriteFolder(out Dictionary<string, int> vocab)
    {
        foreach (string file in new[] { "config.json", "generation_config.json", "model.safetensors" })
            File.Copy(Path.Combine(RepoPaths.FixtureModel, file), Path.Combine(_dir, file), overwrite: true);
        var symbols = ByteSymbols();
        vocab = symbols.Select((s, i) => (s, i)).ToDictionary(p => p.s, p => p.i);
        vocab["Ġt"] = 256;
        vocab["he"] = 257;
        var tokenizerJson = new
        {
            model = new { type = "BPE", vocab, merges = new[] { "Ġ t", "h e" } },
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false, use_regex = true },
            added_tokens = Array.Empty<object>(),
        };
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), JsonSerializer.Serialize(tokenizerJson));
        return _dir;
    }
}
