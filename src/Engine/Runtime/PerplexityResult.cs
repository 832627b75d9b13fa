namespace LlmCpu.Engine.Runtime;

/// <summary>
/// A model's perplexity on a text, measured as llama-perplexity measures it (see <see cref="PerplexityEvaluator"/>),
/// and with a reference model the figures of llama-perplexity's KL-divergence mode. The reference's figures are null
/// without one.
/// </summary>
public sealed record PerplexityResult
{
    public required string Model { get; init; }

    /// <summary>The reference model's name; null without one.</summary>
    public string? Reference { get; init; }

    /// <summary>The text file measured; null for text given directly.</summary>
    public string? Source { get; init; }

    /// <summary>Tokens per window.</summary>
    public required int ContextLength { get; init; }

    /// <summary>Windows run: the text's tokens divided by the context length, rounded down (the rest is not read).</summary>
    public required int Windows { get; init; }

    /// <summary>Positions scored: in each window, every position of its second half but the last.</summary>
    public required int Tokens { get; init; }

    /// <summary>Tokens of the whole text, BOS included.</summary>
    public required int TextTokens { get; init; }

    /// <summary>exp of the mean negative log-likelihood of the scored tokens.</summary>
    public required double Perplexity { get; init; }

    /// <summary>Standard error of <see cref="Perplexity"/> (llama-perplexity's "+/-").</summary>
    public required double StandardError { get; init; }

    /// <summary>The reference model's perplexity on the same tokens.</summary>
    public double? ReferencePerplexity { get; init; }

    /// <summary><see cref="Perplexity"/> / <see cref="ReferencePerplexity"/>.</summary>
    public double? PerplexityRatio { get; init; }

    /// <summary>Mean KL divergence of the model's next-token distribution from the reference's, KL(reference || model), in nats.</summary>
    public double? KLDivergence { get; init; }

    /// <summary>Standard error of <see cref="KLDivergence"/>.</summary>
    public double? KLDivergenceStandardError { get; init; }

    public double? KLDivergenceMedian { get; init; }

    /// <summary>99th percentile of the per-position KL divergences: how bad the rare bad positions are.</summary>
    public double? KLDivergenceP99 { get; init; }

    public double? KLDivergenceMaximum { get; init; }

    /// <summary>Share of positions where both models rank the same token first.</summary>
    public double? SameTopTokenRate { get; init; }

    /// <summary>Root mean square of the change in the next token's probability (model minus reference), as a fraction.</summary>
    public double? RmsProbabilityDelta { get; init; }

    /// <summary>Mean change in the next token's probability (model minus reference), as a fraction.</summary>
    public double? MeanProbabilityDelta { get; init; }

    public required TimeSpan Duration { get; init; }
}
