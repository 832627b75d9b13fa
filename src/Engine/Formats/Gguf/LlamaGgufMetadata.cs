using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>The general and <c>llama.*</c> keys llama.cpp reads to build a Llama model, with the types it checks for.</summary>
public static class LlamaGgufMetadata
{
    public const string Architecture = "llama";

    public static void Add(GgufWriter writer, ModelConfig config, string name, GgmlType layerType)
    {
        writer.AddMetadata("general.architecture", GgufValue.String(Architecture));
        writer.AddMetadata("general.name", GgufValue.String(name));
        writer.AddMetadata("general.file_type", GgufValue.UInt32(FileType(layerType)));
        // The revision of ggml's block formats the quantized tensors follow (2 since the Q4_0/Q8_0 layout of mid-2023).
        if (layerType is GgmlType.Q4_0 or GgmlType.Q8_0) writer.AddMetadata("general.quantization_version", GgufValue.UInt32(2));
        string p = Architecture + ".";
        writer.AddMetadata(p + "vocab_size", GgufValue.UInt32((uint)config.VocabularySize));
        writer.AddMetadata(p + "context_length", GgufValue.UInt32((uint)config.ContextLength));
        writer.AddMetadata(p + "embedding_length", GgufValue.UInt32((uint)config.EmbeddingLength));
        writer.AddMetadata(p + "block_count", GgufValue.UInt32((uint)config.LayerCount));
        writer.AddMetadata(p + "feed_forward_length", GgufValue.UInt32((uint)config.FeedForwardLength));
        writer.AddMetadata(p + "rope.dimension_count", GgufValue.UInt32((uint)config.HeadDim));
        writer.AddMetadata(p + "attention.head_count", GgufValue.UInt32((uint)config.HeadCount));
        writer.AddMetadata(p + "attention.head_count_kv", GgufValue.UInt32((uint)config.KvHeadCount));
        writer.AddMetadata(p + "attention.layer_norm_rms_epsilon", GgufValue.Float32(config.NormEpsilon));
        writer.AddMetadata(p + "rope.freq_base", GgufValue.Float32(config.RopeTheta));
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
