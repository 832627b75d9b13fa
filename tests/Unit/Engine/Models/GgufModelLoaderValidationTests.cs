using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>A tiny Llama GGUF, loaded whole and then with one thing wrong at a time.</summary>
public sealed class GgufModelLoaderValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-ggufload-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(TestGgufWriter writer, string name = "tiny.gguf") => writer.Write(Path.Combine(_dir, name));

    [Fact]
    public void LoadsATinyModelAndGenerates()
    {
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create()));
        Assert.Equal(TinyLlamaGguf.Vocabulary, model.VocabularySize);
        Assert.Equal(TinyLlamaGguf.Layers, model.LayerCount);
        Assert.Equal(128, model.ContextLength);
        Assert.Equal("F32", model.Precision);
        Assert.Equal([1, 262, 261], model.Tokenizer.Encode("ab", addBos: true)); // <s> ▁a b: "▁a" scores above "ab"
        // The loaded F32 weights are the file's values exactly: an F16 copy of the same file gives the same clear choices.
        using var half = ModelLoader.Load(Write(TinyLlamaGguf.Create(GgmlType.F16), "tiny-f16.gguf"));
        GreedyAgreement.AssertAgrees(model, half, model.Tokenizer.Encode("ab", addBos: true), 12, margin: 0.05f);
    }

    [Fact]
    public void AMissingOutputTiesItToTheEmbedding()
    {
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create(tied: true)));
        Assert.True(model.Config.TiedEmbeddings);
        Assert.Same(model.Weights.TokenEmbedding, model.Weights.Output);
    }

    [Fact]
    public void AFileWithoutTheExtensionIsRecognisedByItsMagic()
    {
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create(), "tiny-model.bin"));
        Assert.Equal("tiny-model", model.Name);
    }

    [Theory]
    [InlineData(GgmlType.F16, "F16")]
    [InlineData(GgmlType.Q8_0, "Q8_0")]
    [InlineData(GgmlType.Q4_0, "Q4 g32 sym")]
    public void KeepsWhatTheFileStores(GgmlType type, string precision)
    {
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create(type)));
        Assert.Equal(precision, model.Precision);
    }

    [Fact]
    public void AStackMixingQ4_0WithAFloatTypeIsHeldInF32()
    {
        var log = new RecordingLog();
        var types = new Dictionary<string, GgmlType> { ["blk.0.attn_v.weight"] = GgmlType.F16 };
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create(GgmlType.Q4_0, overrides: types)), new LoadOptions { Log = log });
        Assert.IsType<Float32Matrix>(model.Weights.Layers[0].QueryKeyValue);
        Assert.IsType<LlmCpu.Kernels.Quantization.Int4Matrix>(model.Weights.Layers[0].GateUp);
        Assert.IsType<LlmCpu.Kernels.Quantization.Int4Matrix>(model.Weights.Layers[1].QueryKeyValue);
        Assert.Contains(log.VerboseLines, l => l.Contains("stacked"));
    }

    [Fact]
    public void AStackMixingQ4_0WithQ8_0KeepsBoth()
    {
        var types = new Dictionary<string, GgmlType> { ["blk.0.attn_v.weight"] = GgmlType.Q8_0 };
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create(GgmlType.Q4_0, overrides: types)));
        var stacked = Assert.IsType<StackedMatrix>(model.Weights.Layers[0].QueryKeyValue);
        Assert.Equal(["Q4 g32 sym", "Q4 g32 sym", "Q8_0"], stacked.Parts.Select(p => p.Format));
    }

    [Fact]
    public void Float16IsHonouredOnAQuantizedFile()
    {
        var log = new RecordingLog();
        using var model = ModelLoader.Load(Write(TinyLlamaGguf.Create(GgmlType.Q8_0)), new LoadOptions { Precision = ModelPrecision.Float16, Log = log });
        Assert.IsType<Float16Matrix>(model.Weights.Layers[0].Down);
        Assert.Contains(log.VerboseLines, l => l.Contains("F16"));
    }

    public static TheoryData<string, string, bool> Damages() => new()
    {
        { "missing tensor", "tensor 'blk.1.ffn_down.weight'", false },
        { "missing norm", "tensor 'output_norm.weight'", false },
        { "missing metadata", "metadata 'llama.block_count'", false },
        { "missing epsilon", "metadata 'llama.attention.layer_norm_rms_epsilon'", false },
        { "metadata of the wrong type", "metadata 'llama.embedding_length'", false },
        { "zero heads", "metadata 'llama.attention.head_count'", false },
        { "heads not dividing", "metadata 'llama.attention.head_count_kv'", false },
        { "wrong shape", "tensor 'blk.0.attn_k.weight' dimensions", false },
        { "unsupported type", "tensor 'blk.0.attn_v.weight' type", true },
        { "other architecture", "metadata 'general.architecture'", true },
        { "vocab size disagreeing", "metadata 'llama.vocab_size'", false },
        { "rope scaling", "metadata 'llama.rope.scaling.type'", true },
        { "sliding window", "metadata 'llama.attention.sliding_window'", true },
        { "alibi", "metadata 'llama.attention.max_alibi_bias'", true },
        { "frequency factors of the wrong length", "tensor 'rope_freqs.weight'", false },
        { "partial rotary", "metadata 'llama.rope.dimension_count'", true },
        { "other tokenizer", "metadata 'tokenizer.ggml.model'", true },
        { "eos outside the vocabulary", "metadata 'tokenizer.ggml.eos_token_id'", false },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void RefusesAModelWithOneThingWrong(string damage, string field, bool notSupported)
    {
        var writer = TinyLlamaGguf.Create();
        switch (damage)
        {
            case "missing tensor": writer.RemoveTensor("blk.1.ffn_down.weight"); break;
            case "missing norm": writer.RemoveTensor("output_norm.weight"); break;
            case "missing metadata": writer.Remove("llama.block_count"); break;
            case "missing epsilon": writer.Remove("llama.attention.layer_norm_rms_epsilon"); break;
            case "metadata of the wrong type": writer.Remove("llama.embedding_length").Add("llama.embedding_length", "64"); break;
            case "zero heads": writer.Remove("llama.attention.head_count").Add("llama.attention.head_count", 0u); break;
            case "heads not dividing": writer.Remove("llama.attention.head_count_kv").Add("llama.attention.head_count_kv", 3u); break;
            case "wrong shape":
                writer.RemoveTensor("blk.0.attn_k.weight").AddTensor("blk.0.attn_k.weight", GgmlType.F32, [TinyLlamaGguf.Embedding, 8], new byte[8 * TinyLlamaGguf.Embedding * 4]);
                break;
            case "unsupported type":
                // Q8_1 is a type the reader knows the size of but the loader has no conversion for.
                writer.RemoveTensor("blk.0.attn_v.weight").AddTensor("blk.0.attn_v.weight", GgmlType.Q8_1,
                    [TinyLlamaGguf.Embedding, TinyLlamaGguf.KvDim], new byte[TinyLlamaGguf.Embedding / 32 * 36 * TinyLlamaGguf.KvDim]);
                break;
            case "other architecture": writer.Remove("general.architecture").Add("general.architecture", "gpt2"); break;
            case "vocab size disagreeing": writer.Add("llama.vocab_size", 300u); break;
            case "rope scaling": writer.Add("llama.rope.scaling.type", "yarn"); break;
            case "partial rotary": writer.Add("llama.rope.dimension_count", 8u); break;
            case "sliding window": writer.Add("llama.attention.sliding_window", 8u); break;
            case "alibi": writer.Add("llama.attention.max_alibi_bias", 8f); break;
            case "frequency factors of the wrong length": writer.AddTensor("rope_freqs.weight", GgmlType.F32, [3], new byte[12]); break;
            case "other tokenizer": writer.Remove("tokenizer.ggml.model").Add("tokenizer.ggml.model", "rwkv"); break;
            case "eos outside the vocabulary": writer.Remove("tokenizer.ggml.eos_token_id").Add("tokenizer.ggml.eos_token_id", 5000u); break;
        }
        string path = Write(writer);
        var ex = Assert.ThrowsAny<ModelFormatException>(() => ModelLoader.Load(path).Dispose());
        Assert.Equal(field, ex.Field);
        Assert.Equal(path, ex.FilePath);
        Assert.Equal(notSupported, ex is ModelNotSupportedException);
    }
}
