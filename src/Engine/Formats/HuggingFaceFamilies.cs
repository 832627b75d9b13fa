using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats;

/// <summary>
/// Each family's config.json fields mapped onto <see cref="ModelConfig"/>, with transformers' defaults for the fields a
/// file leaves out. What a family's code would compute differently from what is described here is refused by name.
/// </summary>
internal static class HuggingFaceFamilies
{
    /// <summary>Llama (Llama 2, Llama 3), Mistral and Qwen2: RMSNorm, rotate-half, gated SiLU, sequential.</summary>
    public static ModelConfig Llama(ConfigJson json, string family)
    {
        var traits = family == "qwen2" ? FamilyTraits.Qwen2 : FamilyTraits.Llama;
        RequireActivation(json, "hidden_act", traits.Activation);
        int hidden = json.RequiredInt("hidden_size");
        int heads = json.RequiredInt("num_attention_heads");
        int context = json.OptionalInt("max_position_embeddings") ?? 2048;
        bool attentionBias = json.OptionalBool("attention_bias") ?? false;
        var config = traits.ApplyTo(new ModelConfig
        {
            Architecture = traits.Architecture,
            EmbeddingLength = hidden,
            LayerCount = json.RequiredInt("num_hidden_layers"),
            HeadCount = heads,
            KvHeadCount = json.OptionalInt("num_key_value_heads") ?? heads,
            FeedForwardLength = json.RequiredInt("intermediate_size"),
            VocabularySize = json.RequiredInt("vocab_size"),
            ContextLength = context,
            NormEpsilon = (float)(json.OptionalDouble("rms_norm_eps") ?? HuggingFaceConfig.DefaultRmsNormEpsilon),
            TiedEmbeddings = json.OptionalBool("tie_word_embeddings") ?? false,
            // Qwen2 always has Q, K and V biases and no output bias; Llama's attention_bias adds all four.
            AttentionBias = family == "qwen2" || attentionBias,
            AttentionOutputBias = family != "qwen2" && attentionBias,
            FeedForwardBias = json.OptionalBool("mlp_bias") ?? false,
            SlidingWindow = family == "mistral" ? Window(json, context) : null,
        });
        if (family == "qwen2" && json.OptionalBool("use_sliding_window") == true)
            throw new ModelNotSupportedException(json.Path, "use_sliding_window", "Qwen2's sliding window over only some layers is not supported");
        RequireHeadDim(json, config);
        return WithRotary(json, config, partialFactorField: "partial_rotary_factor");
    }

    /// <summary>GPT-NeoX (Pythia): LayerNorm with bias, partial rotate-half rotary, fused QKV per head, GELU, parallel residual.</summary>
    public static ModelConfig GptNeoX(ConfigJson json)
    {
        var traits = FamilyTraits.GptNeoX;
        bool parallel = json.OptionalBool("use_parallel_residual") ?? true;
        bool attentionBias = json.OptionalBool("attention_bias") ?? true;
        var config = traits.ApplyTo(new ModelConfig
        {
            Architecture = traits.Architecture,
            EmbeddingLength = json.RequiredInt("hidden_size"),
            LayerCount = json.RequiredInt("num_hidden_layers"),
            HeadCount = json.RequiredInt("num_attention_heads"),
            KvHeadCount = json.RequiredInt("num_attention_heads"),
            FeedForwardLength = json.RequiredInt("intermediate_size"),
            VocabularySize = json.RequiredInt("vocab_size"),
            ContextLength = json.OptionalInt("max_position_embeddings") ?? 2048,
            NormEpsilon = (float)(json.OptionalDouble("layer_norm_eps") ?? 1e-5),
            AttentionBias = attentionBias,
            AttentionOutputBias = attentionBias,
            FeedForwardBias = true,
            TiedEmbeddings = json.OptionalBool("tie_word_embeddings") ?? false,
            BosTokenId = 0,
            EosTokenIds = [0],
        }) with
        {
            Activation = Activation(json, "hidden_act") ?? traits.Activation,
            Residual = parallel ? ResidualLayout.ParallelTwoNorms : ResidualLayout.Sequential,
        };
        return WithRotary(json, config, partialFactorField: "rotary_pct", thetaFields: ["rotary_emb_base", "rope_theta"], defaultPartial: 0.25);
    }

    /// <summary>
    /// Falcon: LayerNorm with bias, parallel attention and MLP with one shared norm (7B) or two (the new decoder), or
    /// sequential; multi-query or grouped key/value heads; fused QKV; GELU; rotate-half rotary; optional biases.
    /// </summary>
    public static HuggingFaceCheckpoint Falcon(ConfigJson json)
    {
        if (json.OptionalBool("alibi") == true) throw new ModelNotSupportedException(json.Path, "alibi", "ALiBi position biases are not supported (rotary embedding is)");
        var traits = FamilyTraits.Falcon;
        int hidden = json.RequiredInt("hidden_size", "n_embed");
        int heads = json.RequiredInt("num_attention_heads", "n_head");
        bool newDecoder = json.OptionalBool("new_decoder_architecture") ?? false;
        bool multiQuery = json.OptionalBool("multi_query") ?? true;
        bool parallel = json.OptionalBool("parallel_attn") ?? true;
        int kvHeads = newDecoder ? json.OptionalInt("num_kv_heads", "n_head_kv") ?? heads : multiQuery ? 1 : heads;
        int norms = json.OptionalInt("num_ln_in_parallel_attn") ?? (newDecoder ? 2 : 1);
        if (norms is not (1 or 2)) throw new ModelNotSupportedException(json.Path, "num_ln_in_parallel_attn", $"{norms} norms are not supported (1 or 2 are)");
        bool bias = json.OptionalBool("bias") ?? false;
        var config = traits.ApplyTo(new ModelConfig
        {
            Architecture = traits.Architecture,
            EmbeddingLength = hidden,
            LayerCount = json.RequiredInt("num_hidden_layers", "n_layer"),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            FeedForwardLength = json.OptionalInt("ffn_hidden_size") ?? 4 * hidden,
            VocabularySize = json.RequiredInt("vocab_size"),
            ContextLength = json.OptionalInt("max_position_embeddings") ?? 2048,
            NormEpsilon = (float)(json.OptionalDouble("layer_norm_epsilon") ?? 1e-5),
            AttentionBias = bias,
            AttentionOutputBias = bias,
            FeedForwardBias = bias,
            TiedEmbeddings = json.OptionalBool("tie_word_embeddings") ?? true,
            BosTokenId = 11,
            EosTokenIds = [11],
        }) with
        {
            Activation = Activation(json, "activation") ?? traits.Activation,
            Residual = !parallel ? ResidualLayout.Sequential : newDecoder && norms == 2 ? ResidualLayout.ParallelTwoNorms : ResidualLayout.ParallelSharedNorm,
        };
        RequireHeadDim(json, config);
        return new HuggingFaceCheckpoint(WithRotary(json, config, partialFactorField: null), FalconPerHeadQkv: !newDecoder && !multiQuery);
    }

    /// <summary>GPT-J: one LayerNorm shared by parallel attention and MLP, partial interleaved rotary, MLP and output biases.</summary>
    public static ModelConfig GptJ(ConfigJson json)
    {
        var traits = FamilyTraits.GptJ;
        int hidden = json.RequiredInt("n_embd", "hidden_size");
        int heads = json.RequiredInt("n_head", "num_attention_heads");
        var config = traits.ApplyTo(new ModelConfig
        {
            Architecture = traits.Architecture,
            EmbeddingLength = hidden,
            LayerCount = json.RequiredInt("n_layer", "num_hidden_layers"),
            HeadCount = heads,
            KvHeadCount = heads,
            FeedForwardLength = json.OptionalInt("n_inner") ?? 4 * hidden,
            VocabularySize = json.RequiredInt("vocab_size"),
            ContextLength = json.OptionalInt("n_positions", "max_position_embeddings") ?? 2048,
            NormEpsilon = (float)(json.OptionalDouble("layer_norm_epsilon") ?? 1e-5),
            // transformers' GPT-J rotates rotary_dim dimensions (64 by default; null: all) with base 10000.
            RotaryDimensionCount = json.Has("rotary_dim") ? json.OptionalInt("rotary_dim") : Math.Min(64, hidden / heads),
            FeedForwardBias = true,
            OutputBias = true,
            TiedEmbeddings = json.OptionalBool("tie_word_embeddings") ?? false,
            BosTokenId = 50256,
            EosTokenIds = [50256],
        }) with { Activation = Activation(json, "activation_function") ?? traits.Activation };
        if (json.OptionalObject("rope_scaling") != null) throw new ModelNotSupportedException(json.Path, "rope_scaling", "GPT-J has no rotary scaling in transformers; a file asking for one is not understood");
        return config;
    }

    /// <summary>Theta, the rotated share of each head and the scaling, from rope_scaling or transformers 5's rope_parameters.</summary>
    private static ModelConfig WithRotary(ConfigJson json, ModelConfig config, string? partialFactorField, string[]? thetaFields = null,
        double defaultPartial = 1.0)
    {
        config.ValidateDimensions(json.Path);
        var parameters = json.OptionalObject("rope_parameters");
        double theta = json.OptionalDouble(thetaFields ?? ["rope_theta"]) ?? parameters?.OptionalDouble("rope_theta") ?? 10000.0;
        double partial = (partialFactorField != null ? json.OptionalDouble(partialFactorField) : null)
                         ?? parameters?.OptionalDouble("partial_rotary_factor") ?? defaultPartial;
        int rotated = (int)(config.HeadDim * partial);
        if (!(partial > 0 && partial <= 1) || rotated < 2 || rotated % 2 != 0)
            throw new ModelNotSupportedException(json.Path, partialFactorField ?? "partial_rotary_factor",
                $"{partial} of a head of {config.HeadDim} is {rotated} dimensions; rotary embedding needs an even number, at least 2");
        return config with
        {
            RopeTheta = (float)theta,
            RotaryDimensionCount = rotated == config.HeadDim ? null : rotated,
            RopeScaling = Scaling(json.OptionalObject("rope_scaling") ?? parameters, json.Has("rope_scaling") ? "rope_scaling" : "rope_parameters"),
        };
    }

    private static RopeScaling Scaling(ConfigJson? scaling, string field)
    {
        if (scaling == null) return RopeScaling.None;
        string type = scaling.OptionalString("rope_type") ?? scaling.OptionalString("type") ?? "default";
        float Factor() => (float)(scaling.OptionalDouble("factor") ?? throw new ModelFormatException(scaling.Path, field + ".factor", "is missing"));
        return type switch
        {
            "default" => RopeScaling.None,
            "linear" => new RopeScaling { Type = RopeScalingType.Linear, Factor = Factor() },
            "llama3" => new RopeScaling
            {
                Type = RopeScalingType.Llama3,
                Factor = Factor(),
                LowFrequencyFactor = (float)(scaling.OptionalDouble("low_freq_factor") ?? 1.0),
                HighFrequencyFactor = (float)(scaling.OptionalDouble("high_freq_factor") ?? 4.0),
                OriginalContextLength = scaling.OptionalInt("original_max_position_embeddings") ?? 8192,
            },
            _ => throw new ModelNotSupportedException(scaling.Path, field + ".rope_type",
                $"'{type}' is not supported (default, linear and llama3 are; dynamic NTK, YaRN and LongRoPE are not)"),
        };
    }

    // A window at least as long as the context never skips a position: it is no window.
    private static int? Window(ConfigJson json, int context) =>
        json.OptionalInt("sliding_window") is { } window && window < context ? window : null;

    private static void RequireHeadDim(ConfigJson json, ModelConfig config)
    {
        config.ValidateDimensions(json.Path);
        if (json.OptionalInt("head_dim") is { } headDim && headDim != config.HeadDim)
            throw new ModelNotSupportedException(json.Path, "head_dim",
                $"{headDim} differs from hidden_size / num_attention_heads = {config.HeadDim}; separate head dimensions are not supported");
    }

    private static void RequireActivation(ConfigJson json, string field, FeedForwardActivation expected)
    {
        if (Activation(json, field) is { } activation && activation != expected)
            throw new ModelNotSupportedException(json.Path, field, $"'{json.OptionalString(field)}' is not supported for this family ({expected} is)");
    }

    private static FeedForwardActivation? Activation(ConfigJson json, string field) => json.OptionalString(field) switch
    {
        null => null,
        "silu" or "swish" => FeedForwardActivation.Silu,
        "gelu" => FeedForwardActivation.Gelu,
        "gelu_new" or "gelu_pytorch_tanh" => FeedForwardActivation.GeluTanh,
        var other => throw new ModelNotSupportedException(json.Path, field, $"'{other}' is not supported (silu, gelu, gelu_new and gelu_pytorch_tanh are)"),
    };
}
