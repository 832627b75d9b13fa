using System.Diagnostics;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>Loads a Hugging Face Llama folder: config.json, safetensors (single or sharded), tokenizer.model.</summary>
public static class HuggingFaceModelLoader
{
    public static LanguageModel Load(string folder, LoadOptions options)
    {
        var clock = Stopwatch.StartNew();
        var config = HuggingFaceConfig.Read(folder);
        var (tokenizer, tokenizerPath) = LoadTokenizer(folder);
        if (tokenizer.VocabularySize > config.VocabularySize)
            throw new ModelFormatException(tokenizerPath, "vocabulary", $"{tokenizer.VocabularySize} pieces exceed vocab_size {config.VocabularySize}");

        using var tensors = TensorCollection.OpenFolder(folder);
        var builder = new MatrixBuilder(options.Precision, options.Int4Format, options.Activations);
        string stored = string.Join("/", tensors.Tensors.Values.Select(t => t.Type.ToString()).Distinct().Order());
        var weights = ReadWeights(tensors, config, builder, options);
        string precision = builder.FormatName(tensors.Require("model.layers.0.self_attn.q_proj.weight", config.EmbeddingLength, config.EmbeddingLength).Type);
        long fileBytes = tensors.TotalFileBytes;
        options.Log.Verbose($"Loaded {config.LayerCount} layers from '{folder}' ({stored}) as {precision} in {clock.Elapsed.TotalSeconds:F2} s.");
        return new LanguageModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), Path.GetFullPath(folder), config, weights, tokenizer,
            stored, precision, fileBytes, clock.Elapsed, storage: null);
    }

    /// <summary>tokenizer.model (SentencePiece) when present, else tokenizer.json (byte-level BPE).</summary>
    private static (TextTokenizer Tokenizer, string Path) LoadTokenizer(string folder)
    {
        string sentencePiece = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(sentencePiece)) return (SentencePieceTextTokenizer.Load(sentencePiece), sentencePiece);
        string json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json)) return (ByteLevelBpeTextTokenizer.FromTokenizerJson(json), json);
        throw new FileNotFoundException($"No tokenizer.model or tokenizer.json in '{folder}'.", sentencePiece);
    }

    /// <summary>One layer's matrices: Q, K and V stacked, gate and up stacked.</summary>
    private static LayerWeights BuildLayer(TensorCollection tensors, MatrixBuilder builder, int i, long d, long f, long kv)
    {
        string p = $"model.layers.{i}.";
        var built = new List<WeightMatrix>();
        try
        {
            var qkv = builder.Build(
                tensors.Require(p + "self_attn.q_proj.weight", d, d),
                tensors.Require(p + "self_attn.k_proj.weight", kv, d),
                tensors.Require(p + "self_attn.v_proj.weight", kv, d));
            built.Add(qkv);
            var o = builder.Build(tensors.Require(p + "self_attn.o_proj.weight", d, d));
            built.Add(o);
            var gateUp = builder.Build(tensors.Require(p + "mlp.gate_proj.weight", f, d), tensors.Require(p + "mlp.up_proj.weight", f, d));
            built.Add(gateUp);
            var down = builder.Build(tensors.Require(p + "mlp.down_proj.weight", d, f));
            built.Add(down);
            return new LayerWeights(
                MatrixBuilder.Vector(tensors.Require(p + "input_layernorm.weight", d)), qkv, o,
                MatrixBuilder.Vector(tensors.Require(p + "post_attention_layernorm.weight", d)), gateUp, down);
        }
        catch
        {
            foreach (var matrix in built) matrix.Dispose();
            throw;
        }
    }

    private static ModelWeights ReadWeights(TensorCollection tensors, ModelConfig c, MatrixBuilder builder, LoadOptions options)
    {
        long d = c.EmbeddingLength, f = c.FeedForwardLength, v = c.VocabularySize, kv = c.KvDim;
        var built = new List<IDisposable>();
        try
        {
            var embedding = builder.BuildEdge(tensors.Require("model.embed_tokens.weight", v, d));
            built.Add(embedding);
            var layers = ParallelLayers.Build(c.LayerCount, i => BuildLayer(tensors, builder, i, d, f, kv), options);
            built.AddRange(layers);
            var norm = MatrixBuilder.Vector(tensors.Require("model.norm.weight", d));
            WeightMatrix output = c.TiedEmbeddings && !tensors.Tensors.ContainsKey("lm_head.weight")
                ? embedding
                : builder.BuildEdge(tensors.Require("lm_head.weight", v, d));
            options.Log.Progress("Loading model", "done", 100);
            return new ModelWeights(embedding, layers, norm, output);
        }
        catch
        {
            foreach (var item in built) item.Dispose();
            throw;
        }
    }
}
