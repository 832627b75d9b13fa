namespace LlmCpu.Engine.Quantization;

/// <summary>One recipe and format tried by the automatic recipe, and what it measured on the evaluation text.</summary>
public sealed record QuantizationCandidate
{
    public required string Recipe { get; init; }

    /// <summary>Weights per scale along a row; -1 for one scale per row.</summary>
    public required int GroupSize { get; init; }

    public required bool Asymmetric { get; init; }

    /// <summary>Each kind of layer matrix's group size (for a mix, <see cref="GroupSize"/> is the largest); absent in files written before mixes.</summary>
    public MatrixGroupSizes? MatrixGroupSizes { get; init; }

    /// <summary>Bits per layer weight, FP16 scales and 8-bit zero points counted.</summary>
    public required double BitsPerWeight { get; init; }

    public required double FloatPerplexity { get; init; }

    public required double QuantizedPerplexity { get; init; }

    /// <summary>Mean KL divergence of the quantized next-token distribution from the float one, in nats.</summary>
    public required double KlDivergence { get; init; }

    /// <summary>Share of scored positions where both models rank the same token first.</summary>
    public required double SameTopTokenRate { get; init; }

    /// <summary>Time taken to quantize (calibration included), not to measure.</summary>
    public required TimeSpan QuantizationTime { get; init; }

    /// <summary>The output projection's precision (Int4, Int8, Float16); absent in files written before it was recorded.</summary>
    public string? OutputProjection { get; init; }

    /// <summary>Bytes of the layer matrices and the output projection as stored, scales and zero points included.</summary>
    public long? WeightBytes { get; init; }

    /// <summary>Whether the perplexity is within the accuracy bound of the float model's.</summary>
    public bool WithinBound { get; init; }

    /// <summary>Whether this is the candidate written.</summary>
    public bool Chosen { get; init; }

    /// <summary>Relative perplexity change: quantized / float - 1.</summary>
    public double PerplexityIncrease => FloatPerplexity > 0 ? QuantizedPerplexity / FloatPerplexity - 1 : 0;
}
