using System.Text.Json.Nodes;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// One tiny Llama model (64 wide, one layer, 4 heads sharing 2 key/value heads, vocabulary 320) in every format the
/// engine reads, as bytes: the valid seeds that hostile-input tests damage. Each file is a few tens of kilobytes, so a
/// load takes about a millisecond and thousands of damaged copies fit in a test run.
/// </summary>
public static class TinyModel
{
    public static SyntheticShape Shape { get; } = new("tiny", 64, 1, 4, 2, 128, TinySentencePiece.PieceCount, 64);

    private static readonly Lazy<byte[]> GgufF16 = new(() => WriteThroughFile(".gguf", p => SyntheticGgufWriter.Write(Shape, p, GgmlType.F16, TinySentencePiece.ModelBytes(), 1, true)));
    private static readonly Lazy<byte[]> GgufQ4 = new(() => WriteThroughFile(".gguf", p => SyntheticGgufWriter.Write(Shape, p, GgmlType.Q4_0, TinySentencePiece.ModelBytes(), 1, true)));
    private static readonly Lazy<byte[]> Llmc = new(() => WriteThroughFile(".llmc",
        p => SyntheticModelWriter.WriteLlmc(Shape, p, new Int4Format(32, false), TinySentencePiece.ModelBytes(), 1, true)));

    private static readonly Lazy<byte[]> LlmcQ8Output = new(() => WriteThroughFile(".llmc", p =>
    {
        string gguf = Path.ChangeExtension(p, ".gguf");
        File.WriteAllBytes(gguf, GgufF16.Value);
        Int4ModelConverter.Convert(gguf, p, new Int4Format(32, false), ActivationMode.Int8, overwrite: true, evaluationText: null,
            outputProjection: LlmCpu.Engine.Quantization.OutputPrecision.Int8);
    }));

    /// <summary>A GGUF file as llama.cpp lays one out: F16 or Q4_0 matrices, F32 norms, the SentencePiece vocabulary in metadata.</summary>
    public static byte[] Gguf(GgmlType type = GgmlType.F16) => (byte[])(type == GgmlType.Q4_0 ? GgufQ4 : GgufF16).Value.Clone();

    /// <summary>An LlmCpu INT4 .llmc file, group size 32.</summary>
    public static byte[] LlmcFile() => (byte[])Llmc.Value.Clone();

    /// <summary>An LlmCpu .llmc file, layers INT4 group size 32, output projection Q8_0 (tensor kind "q8_0"), converted from the F16 GGUF.</summary>
    public static byte[] LlmcQ8OutputFile() => (byte[])LlmcQ8Output.Value.Clone();

    /// <summary>The Hugging Face config.json of the model.</summary>
    public static JsonObject Config() => new()
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"),
        ["model_type"] = "llama",
        ["hidden_size"] = Shape.EmbeddingLength,
        ["intermediate_size"] = Shape.FeedForwardLength,
        ["num_attention_heads"] = Shape.HeadCount,
        ["num_key_value_heads"] = Shape.KvHeadCount,
        ["num_hidden_layers"] = Shape.LayerCount,
        ["vocab_size"] = Shape.VocabularySize,
        ["max_position_embeddings"] = Shape.ContextLength,
        ["rms_norm_eps"] = 1e-5,
        ["rope_theta"] = 10000.0,
        ["hidden_act"] = "silu",
        ["tie_word_embeddings"] = false,
        ["bos_token_id"] = 1,
        ["eos_token_id"] = 2,
        ["torch_dtype"] = "float16",
    };

    /// <summary>The model's tensors under Hugging Face names: matrices F16 (the token embedding BF16), norms F32.</summary>
    public static SafeTensorsBuilder SafeTensors(int seed = 1)
    {
        var random = new Random(seed);
        int d = Shape.EmbeddingLength, f = Shape.FeedForwardLength, v = Shape.VocabularySize, kv = d / Shape.HeadCount * Shape.KvHeadCount;
        var builder = new SafeTensorsBuilder()
            .Add("model.embed_tokens.weight", "BF16", [v, d], BFloat16s(v * d, random))
            .Add("model.layers.0.input_layernorm.weight", "F32", [d], Ones(d))
            .Add("model.layers.0.self_attn.q_proj.weight", "F16", [d, d], Halves(d * d, random))
            .Add("model.layers.0.self_attn.k_proj.weight", "F16", [kv, d], Halves(kv * d, random))
            .Add("model.layers.0.self_attn.v_proj.weight", "F16", [kv, d], Halves(kv * d, random))
            .Add("model.layers.0.self_attn.o_proj.weight", "F16", [d, d], Halves(d * d, random))
            .Add("model.layers.0.post_attention_layernorm.weight", "F32", [d], Ones(d))
            .Add("model.layers.0.mlp.gate_proj.weight", "F16", [f, d], Halves(f * d, random))
            .Add("model.layers.0.mlp.up_proj.weight", "F16", [f, d], Halves(f * d, random))
            .Add("model.layers.0.mlp.down_proj.weight", "F16", [d, f], Halves(d * f, random))
            .Add("model.norm.weight", "F32", [d], Ones(d))
            .Add("lm_head.weight", "F16", [v, d], Halves(v * d, random));
        return builder;
    }

    /// <summary>A Hugging Face folder: config.json, model.safetensors and tokenizer.model.</summary>
    public static Dictionary<string, byte[]> HuggingFaceFolder() => new()
    {
        ["config.json"] = Utf8(Config().ToJsonString()),
        ["model.safetensors"] = SafeTensors().ToBytes(),
        ["tokenizer.model"] = TinySentencePiece.ModelBytes(),
    };

    /// <summary>
    /// The same folder with its tensors in two shards listed by model.safetensors.index.json (the layer's tensors in the
    /// first, the embedding, final norm and output projection in the second).
    /// </summary>
    public static Dictionary<string, byte[]> ShardedHuggingFaceFolder()
    {
        var all = SafeTensors();
        var header = all.Header();
        byte[] data = all.Data();
        var first = new SafeTensorsBuilder();
        var second = new SafeTensorsBuilder();
        var weightMap = new JsonObject();
        foreach (var (name, entry) in header)
        {
            if (name == "__metadata__") continue;
            var offsets = entry!["data_offsets"]!.AsArray();
            long begin = (long)offsets[0]!, end = (long)offsets[1]!;
            var shape = entry["shape"]!.AsArray().Select(n => (long)n!).ToArray();
            bool layer = name.StartsWith("model.layers.", StringComparison.Ordinal);
            (layer ? first : second).Add(name, (string)entry["dtype"]!, shape, data[(int)begin..(int)end]);
            weightMap[name] = layer ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = data.Length }, ["weight_map"] = weightMap };
        return new()
        {
            ["config.json"] = Utf8(Config().ToJsonString()),
            ["model.safetensors.index.json"] = Utf8(index.ToJsonString()),
            ["model-00001-of-00002.safetensors"] = first.ToBytes(),
            ["model-00002-of-00002.safetensors"] = second.ToBytes(),
            ["tokenizer.model"] = TinySentencePiece.ModelBytes(),
        };
    }

    public static byte[] Utf8(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    private static byte[] WriteThroughFile(string extension, Action<string> write)
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-tiny-").FullName;
        try
        {
            string path = Path.Combine(folder, "tiny" + extension);
            write(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static byte[] Halves(int count, Random random)
    {
        var bytes = new byte[count * 2];
        for (int i = 0; i < count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (Half)((random.NextSingle() - 0.5f) * 0.08f));
        return bytes;
    }

    private static byte[] BFloat16s(int count, Random random)
    {
        var bytes = new byte[count * 2];
        for (int i = 0; i < count; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (ushort)(BitConverter.SingleToUInt32Bits((random.NextSingle() - 0.5f) * 0.08f) >> 16));
        return bytes;
    }

    private static byte[] Ones(int count) => Enumerable.Repeat(1f, count).SelectMany(BitConverter.GetBytes).ToArray();
}
