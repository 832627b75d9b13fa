using System.Text.Json.Serialization;

namespace LlmCpu.Engine.Formats.Llmc;

/// <summary>Where a blob is in the file and its XXH64, as hexadecimal.</summary>
public sealed record LlmcBlob(long Offset, long Length, string Xxh64);

/// <summary>One tensor: its kind ("int4", "q8_0", "f16", "f32"), shape, quantization and blobs.</summary>
public sealed record LlmcTensor
{
    public required string Name { get; init; }

    public required string Kind { get; init; }

    public required int Rows { get; init; }

    public required int Columns { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? GroupSize { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Asymmetric { get; init; }

    /// <summary>The arrays: "data" for float tensors; "quants", "scales" and (asymmetric) "zeros" for INT4; "codes" and "scales" for Q8_0.</summary>
    public required Dictionary<string, LlmcBlob> Blobs { get; init; }
}

/// <summary>The file's directory (UTF-8 JSON at the end of the file).</summary>
public sealed record LlmcDirectory
{
    public required string Name { get; init; }

    /// <summary>The model's description: dimensions and architecture (norm, residual, rotary, biases, window, MLP).</summary>
    public required Models.ModelConfig Config { get; init; }

    public required string TokenizerKind { get; init; }

    public required LlmcBlob Tokenizer { get; init; }

    public required QuantizationReport Quantization { get; init; }

    public required List<LlmcTensor> Tensors { get; init; }

    /// <summary>
    /// The source model's chat template (its Jinja text, from tokenizer_config.json or a GGUF's tokenizer.chat_template),
    /// so a chat session on the file picks the model's format as on the source; absent when the source had none.
    /// </summary>
    public string? ChatTemplate { get; init; }

    /// <summary>The source model's other chat templates by name (<see cref="Models.LanguageModel.NamedChatTemplates"/>); absent when it had none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? NamedChatTemplates { get; init; }
}

/// <summary>How the weights were quantized and, when measured, how close the result is to the float model.</summary>
public sealed record QuantizationReport
{
    public required string Recipe { get; init; }

    public required string Format { get; init; }

    public required int GroupSize { get; init; }

    public required bool Asymmetric { get; init; }

    /// <summary>Each kind of layer matrix's group size (for a mix, <see cref="GroupSize"/> is the largest); absent in files written before mixes.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LlmCpu.Engine.Quantization.MatrixGroupSizes? MatrixGroupSizes { get; init; }

    public required string Activations { get; init; }

    /// <summary>Precision kept for the token embedding and output projection.</summary>
    public required string EdgePrecision { get; init; }

    public required string SourcePrecision { get; init; }

    public required string Source { get; init; }

    public required string CreatedBy { get; init; }

    public required DateTimeOffset Created { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public AccuracyReport? Accuracy { get; init; }

    /// <summary>Bits per layer weight, scales and zero points counted; absent in files written before it was recorded.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? BitsPerWeight { get; init; }

    /// <summary>The text a calibrated recipe (GPTQ, AWQ) tuned on.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CalibrationText { get; init; }

    /// <summary>Tokens of <see cref="CalibrationText"/> the recipe ran; absent in files written before it was recorded.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? CalibrationTokens { get; init; }

    /// <summary>The text <see cref="Accuracy"/> (and every candidate) was measured on.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? EvaluationText { get; init; }

    /// <summary>Seconds the conversion took, measurement included.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? DurationSeconds { get; init; }

    /// <summary>Every recipe and format the automatic recipe tried, the one written marked as chosen.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<LlmCpu.Engine.Quantization.QuantizationCandidate>? Candidates { get; init; }
}

/// <summary>
/// Agreement of the quantized model with the float model on an evaluation text, measured as Measure-Perplexity
/// measures (llama-perplexity's convention: windows of the context length, the second half of each scored). Files
/// written before the windowed measurement lack the fields after <see cref="TopTokenAgreement"/>; those scored every
/// position of one window.
/// </summary>
public sealed record AccuracyReport
{
    /// <summary>Positions scored.</summary>
    public required int Tokens { get; init; }

    public required double FloatPerplexity { get; init; }

    public required double QuantizedPerplexity { get; init; }

    /// <summary>Mean KL divergence of the quantized next-token distribution from the float one, in nats.</summary>
    public required double MeanKlDivergence { get; init; }

    /// <summary>Share of positions where both models rank the same token first.</summary>
    public required double TopTokenAgreement { get; init; }

    /// <summary>Tokens per window.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ContextLength { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Windows { get; init; }

    /// <summary>99th percentile of the per-position KL divergences, in nats.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? KlDivergenceP99 { get; init; }

    /// <summary>Root mean square change of the next token's probability, as a fraction.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public double? RmsProbabilityDelta { get; init; }

    public double PerplexityIncrease => FloatPerplexity > 0 ? QuantizedPerplexity / FloatPerplexity - 1 : 0;
}
