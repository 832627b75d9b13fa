namespace LlmCpu.Engine.Quantization;

/// <summary>
/// The automatic recipe's choice of the output projection's precision, when none is asked for. The layers' search
/// (<see cref="AutoRecipeSearch"/>) runs with an 8-bit output projection, so the output's own rounding error does not
/// push it to larger layer formats; then, if its choice is within the accuracy bound, the same layers are tried with
/// an INT4 output projection (fewer bytes for decode to read). Within the bound, fewer bytes win; at equal bytes, or
/// when neither is within the bound, the lower KL divergence wins. A choice outside the bound is not tried with INT4
/// output, which could only be less accurate.
/// </summary>
public static class AutoOutputSearch
{
    /// <summary>The output projection the layers' search runs with.</summary>
    public const OutputPrecision LayerSearchOutput = OutputPrecision.Int8;

    /// <summary>Tried, in order, with the layers' choice.</summary>
    public static IReadOnlyList<OutputPrecision> Alternatives { get; } = [OutputPrecision.Int4];

    /// <summary>Within the bound beats outside it; within it, fewer bytes, then lower KL divergence; outside it, lower KL divergence.</summary>
    public static bool IsBetter(QuantizationCandidate a, QuantizationCandidate b)
    {
        if (a.WithinBound != b.WithinBound) return a.WithinBound;
        if (a.WithinBound && a.WeightBytes != b.WeightBytes) return (a.WeightBytes ?? long.MaxValue) < (b.WeightBytes ?? long.MaxValue);
        return a.KlDivergence < b.KlDivergence;
    }

    /// <param name="layers">The layers' search, run with <see cref="LayerSearchOutput"/>.</param>
    /// <param name="measure">Quantizes the chosen layer format with the given output precision and measures it.</param>
    /// <param name="maxLoss">Largest relative perplexity increase accepted, 0.01 for 1%.</param>
    public static AutoSearchResult Run(AutoSearchResult layers, Func<OutputPrecision, QuantizationCandidate> measure, double maxLoss)
        // Only a choice within the bound tries the smaller output: outside it, the more accurate output stays.
        => layers.ThenTry(layers.Chosen.WithinBound ? Alternatives : [], measure, maxLoss, IsBetter, nameof(layers));
}
