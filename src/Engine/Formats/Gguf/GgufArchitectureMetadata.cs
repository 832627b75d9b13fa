using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// The general and <c>{architecture}.*</c> keys llama.cpp reads to build a model, with the types it checks for, and
/// the check that llama.cpp's graph for that architecture computes what the description says.
/// </summary>
public static class GgufArchitectureMetadata
{
    /// <summary>Why llama.cpp would run <paramref name="config"/> differently from the engine; null when it runs it the same.</summary>
    public static string? Mismatch(ModelConfig config)
    {
        if (config.SlidingWindow != null) return "a sliding window (llama.cpp runs these architectures with full attention)";
        // llama.cpp builds the traits of FamilyTraits into its graphs (and has no graph for GPT-J).
        if (config.Architecture is not ("llama" or "qwen2" or "gptneox" or "falcon") || FamilyTraits.Find(config.Architecture) is not { } family)
            return $"the {config.Architecture} architecture (llama.cpp has no graph for it)";
        if (config.Norm != family.Norm || config.NormBias != family.NormBias) return $"{config.Norm} norms for {config.Architecture}";
        if (config.FeedForwardGated != family.FeedForwardGated) return "the feed-forward network's gating";
        if (config.Activation != family.Activation) return $"the {config.Activation} activation";
        if (config.RotaryPairing != family.RotaryPairing) return "interleaved rotary pairs";
        if (family.RotatesWholeHead && config.RotaryDimensions != config.HeadDim) return "partial rotary embedding";
        if (config.OutputBias) return "an output bias";
        if (config.Architecture == "falcon" && config.Residual == ResidualLayout.Sequential) return "a sequential Falcon (llama.cpp's Falcon is parallel)";
        if ((family.Residual == ResidualLayout.Sequential) != (config.Residual == ResidualLayout.Sequential)) return $"the {config.Residual} residual layout";
        if (config.Architecture == "gptneox" && config.Residual == ResidualLayout.ParallelSharedNorm) return "one shared norm in GPT-NeoX";
        return null;
    }

    public static void Add(GgufWriter writer, ModelConfig config, string name, GgmlType layerType)
    {
        string architecture = config.Architecture;
        writer.AddMetadata("general.architecture", GgufValue.String(architecture));
        writer.AddMetadata("general.name", GgufValue.String(name));
        writer.AddMetadata("general.file_type", GgufValue.UInt32(FileType(layerType)));
        // The revision of ggml's block formats the quantized tensors follow (2 since the Q4_0/Q8_0 layout of mid-2023).
        if (layerType is GgmlType.Q4_0 or GgmlType.Q8_0) writer.AddMetadata("general.quantization_version", GgufValue.UInt32(2));
        string p = architecture + ".";
        writer.AddMetadata(p + "vocab_size", GgufValue.UInt32((uint)config.VocabularySize));
        writer.AddMetadata(p + "context_length", GgufValue.UInt32((uint)config.ContextLength));
        writer.AddMetadata(p + "embedding_length", GgufValue.UInt32((uint)config.EmbeddingLength));
        writer.AddMetadata(p + "block_count", GgufValue.UInt32((uint)config.LayerCount));
        writer.AddMetadata(p + "feed_forward_length", GgufValue.UInt32((uint)config.FeedForwardLength));
        writer.AddMetadata(p + "rope.dimension_count", GgufValue.UInt32((uint)config.RotaryDimensions));
        writer.AddMetadata(p + "attention.head_count", GgufValue.UInt32((uint)config.HeadCount));
        writer.AddMetadata(p + "attention.head_count_kv", GgufValue.UInt32((uint)config.KvHeadCount));
        writer.AddMetadata(p + (config.Norm == NormKind.Rms ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon"), GgufValue.Float32(config.NormEpsilon));
        writer.AddMetadata(p + "rope.freq_base", GgufValue.Float32(config.RopeTheta));
        if (architecture == "gptneox") writer.AddMetadata(p + "use_parallel_residual", GgufValue.Bool(config.Residual != ResidualLayout.Sequential));
        if (config.RopeScaling.Type == RopeScalingType.Linear)
        {
            writer.AddMetadata(p + "rope.scaling.type", GgufValue.String("linear"));
            writer.AddMetadata(p + "rope.scaling.factor", GgufValue.Float32(config.RopeScaling.Factor));
        }
    }

    /// <summary>llama.cpp's <c>llama_ftype</c> for a file whose layer matrices are <paramref name="layerType"/>.</summary>
    public static uint FileType(GgmlType layerType) => layerType switch
    {
        GgmlType.F32 => 0,   // ALL_F32
        GgmlType.F16 => 1,   // MOSTLY_F16
        GgmlType.Q4_0 => 2,  // MOSTLY_Q4_0
        GgmlType.Q8_0 => 7,  // MOSTLY_Q8_0
        _ => throw new ArgumentOutOfRangeException(nameof(layerType), layerType, "Models are exported as F32, F16, Q8_0 or Q4_0."),
    };
}
