using System.Text.Json;

namespace LlmCpu.Engine.Formats;

/// <summary>How a Hugging Face checkpoint's linear layers were quantized to 4 bits by a published tool.</summary>
public enum QuantizedCheckpointMethod
{
    /// <summary>
    /// AutoGPTQ / GPTQModel (and transformers' GPTQ integration): per linear layer `qweight` int32 [in / 8, out], eight
    /// 4-bit codes of consecutive input columns per word, lowest nibble first; `qzeros` int32 [groups, out / 8], eight
    /// output rows' zero points per word, lowest nibble first, stored as zero - 1 in the original ("gptq") format and as
    /// the zero itself in "gptq_v2"; `scales` FP16 [groups, out]; `g_idx` int32 [in], each input column's group.
    /// weight[out, in] = scales[g, out] * (code - zero).
    /// </summary>
    Gptq,

    /// <summary>
    /// AutoAWQ / llm-awq's GEMM layout: `qweight` int32 [in, out / 8] and `qzeros` int32 [groups, out / 8], each word
    /// holding eight output rows' codes in the interleaved order 0, 2, 4, 6, 1, 3, 5, 7 (nibble p holds row
    /// 8w + order[p]); `scales` FP16 [groups, out]; groups run along the input. weight[out, in] = scales * (code - zero).
    /// </summary>
    Awq,
}

/// <summary>
/// A checkpoint's `quantization_config` (config.json), or the tools' own `quantize_config.json` (AutoGPTQ) or
/// `quant_config.json` (AutoAWQ): what the loader needs to read the packed tensors exactly. What it cannot read
/// exactly (other bit widths, other layouts, group sizes the INT4 kernels lack) is refused by field.
/// </summary>
public sealed record QuantizedCheckpoint(QuantizedCheckpointMethod Method, int GroupSize, int ZeroOffset, string SourceFile)
{
    /// <summary>The quantization a folder's files declare; null for a checkpoint of unquantized weights.</summary>
    internal static QuantizedCheckpoint? Read(string folder, ConfigJson config)
    {
        if (config.OptionalObject("quantization_config") is { } inConfig) return Parse(inConfig, config.Path);
        foreach (string name in new[] { "quantize_config.json", "quant_config.json" })
        {
            string path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            using var document = TensorCollection.ParseJson(path);
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(path, "quantization", "is not a JSON object");
            return Parse(new ConfigJson(document.RootElement, path), path, name == "quant_config.json" ? "awq" : "gptq");
        }
        return null;
    }

    private static QuantizedCheckpoint Parse(ConfigJson q, string path, string defaultMethod = "")
    {
        string method = (q.OptionalString("quant_method") ?? defaultMethod).ToLowerInvariant();
        int bits = q.OptionalInt("bits", "w_bit") ?? 4;
        int group = q.OptionalInt("group_size", "q_group_size") ?? 128;
        string Field(string name) => q.Prefix + name;
        if (method is not ("gptq" or "awq"))
            throw new ModelNotSupportedException(path, Field("quant_method"), $"'{method}' is not supported (gptq and awq checkpoints are read)");
        if (bits != 4) throw new ModelNotSupportedException(path, Field("bits"), $"{bits}-bit weights are not supported (4-bit are)");
        if (group is not (32 or 64 or 128 or -1))
            throw new ModelNotSupportedException(path, Field("group_size"), $"{group} is not a group size of the INT4 kernels (32, 64, 128 or -1)");
        if (method == "awq")
        {
            string version = (q.OptionalString("version") ?? "gemm").ToLowerInvariant();
            if (version != "gemm") throw new ModelNotSupportedException(path, Field("version"), $"AWQ's '{version}' layout is not supported (gemm is)");
            if (q.OptionalBool("zero_point") == false) throw new ModelNotSupportedException(path, Field("zero_point"), "AWQ without zero points is not supported");
            return new QuantizedCheckpoint(QuantizedCheckpointMethod.Awq, group, ZeroOffset: 0, path);
        }
        string format = (q.OptionalString("checkpoint_format") ?? "gptq").ToLowerInvariant();
        if (format is not ("gptq" or "gptq_v2"))
            throw new ModelNotSupportedException(path, Field("checkpoint_format"), $"'{format}' is not supported (gptq and gptq_v2 are)");
        // desc_act is checked against each layer's g_idx when it is read: activation order with groups kept in column
        // order (static groups) reads exactly; a permuted order is refused there, naming the tensor.
        return new QuantizedCheckpoint(QuantizedCheckpointMethod.Gptq, group, ZeroOffset: format == "gptq" ? 1 : 0, path);
    }
}
