using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Reads the hyperparameters of a GGUF file (<c>general.architecture</c> llama, qwen2, gptneox, falcon or gptj; keys
/// under that name) into the engine's model description. What llama.cpp reads from tensors rather than keys is read
/// the same way: biases and Falcon's second norm are there when their tensors are, Llama 3's rotary scaling is the
/// <c>rope_freqs.weight</c> tensor.
/// </summary>
public static class GgufModelConfig
{
    public const string ArchitectureKey = "general.architecture";

    // The limit ModelConfig.Validate applies, checked here first so that the message names the GGUF key.
    private const int MaxContextLength = 1 << 20;

    public static ModelConfig Read(GgufFile file)
    {
        var metadata = file.Metadata;
        string path = file.Path;
        string architecture = metadata.RequireString(ArchitectureKey);
        var family = FamilyTraits.Find(architecture)
                     ?? throw new ModelNotSupportedException(path, GgufMetadata.Field(ArchitectureKey),
                         $"'{architecture}' is not supported ({string.Join(", ", FamilyTraits.All.Select(f => f.Architecture))} are)");
        string prefix = architecture + ".";

        int embedding = Positive(metadata, prefix + "embedding_length");
        int heads = Positive(metadata, prefix + "attention.head_count");
        int kvHeads = ReadKvHeads(metadata, prefix, heads);
        if (embedding % heads != 0)
            throw new ModelFormatException(path, GgufMetadata.Field(prefix + "attention.head_count"), $"{heads} does not divide embedding_length {embedding}");
        if (heads % kvHeads != 0)
            throw new ModelFormatException(path, GgufMetadata.Field(prefix + "attention.head_count_kv"), $"{kvHeads} does not divide head_count {heads}");
        int headDim = embedding / heads;
        if (headDim % 2 != 0)
            throw new ModelFormatException(path, GgufMetadata.Field(prefix + "attention.head_count"), $"head dimension {headDim} is odd; rotary embedding needs it even");
        int rotary = metadata.GetInt32(prefix + "rope.dimension_count") ?? headDim;
        if (rotary <= 0 || rotary > headDim || rotary % 2 != 0)
            throw new ModelNotSupportedException(path, GgufMetadata.Field(prefix + "rope.dimension_count"), $"{rotary} is not an even number of dimensions within the head dimension {headDim}");
        if (family.RotatesWholeHead && rotary != headDim)
            throw new ModelNotSupportedException(path, GgufMetadata.Field(prefix + "rope.dimension_count"), $"{rotary} differs from the head dimension {headDim}; llama.cpp rotates the whole head of {architecture}");
        RefuseWhatChangesTheMath(file, prefix);

        int context = Positive(metadata, prefix + "context_length");
        if (context > MaxContextLength)
            throw new ModelNotSupportedException(path, GgufMetadata.Field(prefix + "context_length"), $"{context} exceeds the {MaxContextLength} positions the engine tabulates");
        string epsilonKey = prefix + (family.Norm == NormKind.Rms ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon");
        double epsilon = metadata.RequireDouble(epsilonKey);
        double theta = metadata.GetDouble(prefix + "rope.freq_base") ?? 10000.0;
        bool Has(string tensor) => file.Tensors.ContainsKey(tensor);
        var config = family.ApplyTo(new ModelConfig
        {
            Architecture = architecture,
            EmbeddingLength = embedding,
            LayerCount = Positive(metadata, prefix + "block_count"),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            FeedForwardLength = Positive(metadata, prefix + "feed_forward_length"),
            VocabularySize = ReadVocabularySize(metadata, prefix),
            ContextLength = context,
            NormEpsilon = (float)epsilon,
            RopeTheta = (float)theta,
            RotaryDimensionCount = rotary == headDim ? null : rotary,
            RopeScaling = ReadScaling(file, prefix, rotary),
            TiedEmbeddings = !Has("output.weight"),
            BosTokenId = metadata.GetInt32("tokenizer.ggml.bos_token_id") ?? 1,
            EosTokenIds = [metadata.GetInt32("tokenizer.ggml.eos_token_id") ?? 2],
            AttentionBias = Has("blk.0.attn_q.bias") || Has("blk.0.attn_qkv.bias"),
            AttentionOutputBias = Has("blk.0.attn_output.bias"),
            FeedForwardBias = Has("blk.0.ffn_up.bias"),
            OutputBias = Has("output.bias"),
        });
        // The wiring where the file states it: GPT-NeoX by a key, Falcon's new decoder by its second norm's tensors.
        config = architecture switch
        {
            "gptneox" => config with { Residual = metadata.GetBool(prefix + "use_parallel_residual") ?? true ? ResidualLayout.ParallelTwoNorms : ResidualLayout.Sequential },
            "falcon" => config with { Residual = Has("blk.0.attn_norm_2.weight") ? ResidualLayout.ParallelTwoNorms : ResidualLayout.ParallelSharedNorm },
            _ => config,
        };
        if (!(config.NormEpsilon > 0 && config.NormEpsilon < 1))
            throw new ModelFormatException(path, GgufMetadata.Field(epsilonKey), $"{epsilon} is outside (0, 1)");
        if (!(config.RopeTheta > 1))
            throw new ModelFormatException(path, GgufMetadata.Field(prefix + "rope.freq_base"), $"{theta} must be greater than 1");
        if (config.BosTokenId < 0 || config.BosTokenId >= config.VocabularySize)
            throw new ModelFormatException(path, GgufMetadata.Field("tokenizer.ggml.bos_token_id"), $"{config.BosTokenId} is outside the vocabulary of {config.VocabularySize}");
        if (config.EosTokenIds[0] < 0 || config.EosTokenIds[0] >= config.VocabularySize)
            throw new ModelFormatException(path, GgufMetadata.Field("tokenizer.ggml.eos_token_id"), $"{config.EosTokenIds[0]} is outside the vocabulary of {config.VocabularySize}");
        config.Validate(path);
        return config;
    }

    /// <summary>Keys llama.cpp honours for these architectures that the engine does not implement.</summary>
    private static void RefuseWhatChangesTheMath(GgufFile file, string prefix)
    {
        var metadata = file.Metadata;
        if (metadata.GetInt32(prefix + "attention.sliding_window") is > 0 and var window)
            throw new ModelNotSupportedException(file.Path, GgufMetadata.Field(prefix + "attention.sliding_window"),
                $"{window}: llama.cpp runs this architecture with full attention whatever the key says, so the file's meaning is unclear");
        foreach (string key in (string[])["attention.clamp_kqv", "attention.max_alibi_bias", "logit_scale", "attention.scale"])
        {
            if (metadata.Contains(prefix + key))
                throw new ModelNotSupportedException(file.Path, GgufMetadata.Field(prefix + key), "is not supported");
        }
    }

    private static RopeScaling ReadScaling(GgufFile file, string prefix, int rotary)
    {
        var metadata = file.Metadata;
        string type = metadata.GetString(prefix + "rope.scaling.type") ?? "none";
        RopeScaling scaling;
        switch (type)
        {
            case "none":
                scaling = RopeScaling.None;
                break;
            case "linear":
                double factor = metadata.GetDouble(prefix + "rope.scaling.factor")
                                ?? throw new ModelFormatException(file.Path, GgufMetadata.Field(prefix + "rope.scaling.factor"), "is missing");
                scaling = new RopeScaling { Type = RopeScalingType.Linear, Factor = (float)factor };
                break;
            default:
                throw new ModelNotSupportedException(file.Path, GgufMetadata.Field(prefix + "rope.scaling.type"), $"'{type}' is not supported (none and linear are; Llama 3's is read from rope_freqs.weight)");
        }
        if (!file.Tensors.TryGetValue("rope_freqs.weight", out var freqs)) return scaling;
        if (scaling.Type != RopeScalingType.None)
            throw new ModelNotSupportedException(file.Path, "tensor 'rope_freqs.weight'", $"frequency factors together with '{type}' scaling are not supported");
        if (freqs.ElementCount != rotary / 2 || !freqs.Type.CanDequantize())
            throw new ModelFormatException(file.Path, "tensor 'rope_freqs.weight'", $"holds {freqs.ElementCount} {freqs.Type} values, expected {rotary / 2} (one per rotated pair)");
        var factors = new float[rotary / 2];
        GgmlDequantizer.Dequantize(freqs.Type, freqs.Row(0), factors);
        return new RopeScaling { Type = RopeScalingType.Llama3, FrequencyFactors = factors };
    }

    // The token list is what the embedding rows are numbered by; llama.vocab_size is its stand-in when absent.
    private static int ReadVocabularySize(GgufMetadata metadata, string prefix)
    {
        int? declared = metadata.GetInt32(prefix + "vocab_size");
        var tokens = metadata.Get("tokenizer.ggml.tokens");
        if (tokens == null) return declared is > 0 ? declared.Value : throw new ModelFormatException(metadata.Path, GgufMetadata.Field(prefix + "vocab_size"), "is missing, and so is tokenizer.ggml.tokens");
        int count = metadata.RequireStringArray("tokenizer.ggml.tokens").Length;
        if (count == 0) throw new ModelFormatException(metadata.Path, GgufMetadata.Field("tokenizer.ggml.tokens"), "is empty");
        if (declared is { } size && size != count)
            throw new ModelFormatException(metadata.Path, GgufMetadata.Field(prefix + "vocab_size"), $"{size} differs from the {count} tokens of tokenizer.ggml.tokens");
        return count;
    }

    // head_count_kv may be one number or, in some files, one per layer; the engine runs the same count in every layer.
    private static int ReadKvHeads(GgufMetadata metadata, string prefix, int heads)
    {
        string key = prefix + "attention.head_count_kv";
        var value = metadata.Get(key);
        if (value == null) return heads;
        if (value.IsArray)
        {
            var perLayer = metadata.GetInt32Array(key)!;
            if (perLayer.Length == 0 || perLayer.Any(v => v != perLayer[0]))
                throw new ModelNotSupportedException(metadata.Path, GgufMetadata.Field(key), "differs between layers; the engine runs one key/value head count in every layer");
            return perLayer[0] > 0 ? perLayer[0] : throw new ModelFormatException(metadata.Path, GgufMetadata.Field(key), $"is {perLayer[0]}; it must be positive");
        }
        return Positive(metadata, key);
    }

    private static int Positive(GgufMetadata metadata, string key)
    {
        int value = metadata.RequireInt32(key);
        return value > 0 ? value : throw new ModelFormatException(metadata.Path, GgufMetadata.Field(key), $"is {value}; it must be positive");
    }
}
