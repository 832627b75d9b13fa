namespace LlmCpu.Engine.Models;

/// <summary>
/// One table per family: the names of its tensors in GGUF (llama.cpp's names) and in Hugging Face checkpoints. The
/// loaders of both formats read weights through these tables and nothing else.
/// </summary>
public static class ArchitectureTables
{
    /// <summary>llama.cpp's names, shared by every family; what differs is fused QKV, the second norm and Llama's row order.</summary>
    private static readonly TensorNameTable GgufNames = new()
    {
        TokenEmbedding = "token_embd", OutputNorm = "output_norm", Output = "output",
        AttentionNorm = "blk.{0}.attn_norm", FeedForwardNorm = "blk.{0}.ffn_norm",
        Query = "blk.{0}.attn_q", Key = "blk.{0}.attn_k", Value = "blk.{0}.attn_v", AttentionOutput = "blk.{0}.attn_output",
        Gate = "blk.{0}.ffn_gate", Up = "blk.{0}.ffn_up", Down = "blk.{0}.ffn_down",
    };

    public static TensorNameTable Gguf(ModelConfig config) => config.Architecture switch
    {
        "llama" => GgufNames with { QueryKeyRowsInterleaved = true },
        "qwen2" => GgufNames,
        "gptneox" => GgufNames with { Query = null, Key = null, Value = null, QueryKeyValue = "blk.{0}.attn_qkv", Gate = null },
        // With two norms, llama.cpp's converter names Falcon's ln_mlp attn_norm and its ln_attn attn_norm_2.
        "falcon" when config.Residual == ResidualLayout.ParallelTwoNorms => GgufNames with
        {
            Query = null, Key = null, Value = null, QueryKeyValue = "blk.{0}.attn_qkv", Gate = null,
            AttentionNorm = "blk.{0}.attn_norm_2", FeedForwardNorm = "blk.{0}.attn_norm",
        },
        "falcon" => GgufNames with { Query = null, Key = null, Value = null, QueryKeyValue = "blk.{0}.attn_qkv", Gate = null, FeedForwardNorm = null },
        "gptj" => GgufNames with { FeedForwardNorm = null, Gate = null },
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Architecture, "No GGUF tensor names for this architecture."),
    };

    private static readonly TensorNameTable LlamaNames = new()
    {
        TokenEmbedding = "model.embed_tokens", OutputNorm = "model.norm", Output = "lm_head",
        AttentionNorm = "model.layers.{0}.input_layernorm", FeedForwardNorm = "model.layers.{0}.post_attention_layernorm",
        Query = "model.layers.{0}.self_attn.q_proj", Key = "model.layers.{0}.self_attn.k_proj", Value = "model.layers.{0}.self_attn.v_proj",
        AttentionOutput = "model.layers.{0}.self_attn.o_proj",
        Gate = "model.layers.{0}.mlp.gate_proj", Up = "model.layers.{0}.mlp.up_proj", Down = "model.layers.{0}.mlp.down_proj",
    };

    private static readonly TensorNameTable GptNeoXNames = new()
    {
        TokenEmbedding = "gpt_neox.embed_in", OutputNorm = "gpt_neox.final_layer_norm", Output = "embed_out",
        AttentionNorm = "gpt_neox.layers.{0}.input_layernorm", FeedForwardNorm = "gpt_neox.layers.{0}.post_attention_layernorm",
        QueryKeyValue = "gpt_neox.layers.{0}.attention.query_key_value", FusedLayout = FusedQkvLayout.PerHead,
        AttentionOutput = "gpt_neox.layers.{0}.attention.dense",
        Up = "gpt_neox.layers.{0}.mlp.dense_h_to_4h", Down = "gpt_neox.layers.{0}.mlp.dense_4h_to_h",
    };

    private static readonly TensorNameTable FalconNames = new()
    {
        TokenEmbedding = "transformer.word_embeddings", OutputNorm = "transformer.ln_f", Output = "lm_head",
        AttentionNorm = "transformer.h.{0}.input_layernorm",
        QueryKeyValue = "transformer.h.{0}.self_attention.query_key_value", FusedLayout = FusedQkvLayout.PerKeyValueGroup,
        AttentionOutput = "transformer.h.{0}.self_attention.dense",
        Up = "transformer.h.{0}.mlp.dense_h_to_4h", Down = "transformer.h.{0}.mlp.dense_4h_to_h",
    };

    private static readonly TensorNameTable GptJNames = new()
    {
        TokenEmbedding = "transformer.wte", OutputNorm = "transformer.ln_f", Output = "lm_head",
        AttentionNorm = "transformer.h.{0}.ln_1",
        Query = "transformer.h.{0}.attn.q_proj", Key = "transformer.h.{0}.attn.k_proj", Value = "transformer.h.{0}.attn.v_proj",
        AttentionOutput = "transformer.h.{0}.attn.out_proj",
        Up = "transformer.h.{0}.mlp.fc_in", Down = "transformer.h.{0}.mlp.fc_out",
    };

    /// <param name="falconPerHeadQkv">Falcon without multi-query and without the new decoder fuses Q, K, V per head.</param>
    public static TensorNameTable HuggingFace(ModelConfig config, bool falconPerHeadQkv = false) => config.Architecture switch
    {
        "llama" or "qwen2" => LlamaNames,
        "gptneox" => GptNeoXNames,
        "falcon" => FalconNames with
        {
            // Falcon's norms: two parallel ones (ln_attn, ln_mlp), one shared, or a sequential pair.
            AttentionNorm = config.Residual == ResidualLayout.ParallelTwoNorms ? "transformer.h.{0}.ln_attn" : "transformer.h.{0}.input_layernorm",
            FeedForwardNorm = config.Residual switch
            {
                ResidualLayout.ParallelTwoNorms => "transformer.h.{0}.ln_mlp",
                ResidualLayout.Sequential => "transformer.h.{0}.post_attention_layernorm",
                _ => null,
            },
            FusedLayout = falconPerHeadQkv ? FusedQkvLayout.PerHead : FusedQkvLayout.PerKeyValueGroup,
        },
        "gptj" => GptJNames,
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Architecture, "No Hugging Face tensor names for this architecture."),
    };
}
