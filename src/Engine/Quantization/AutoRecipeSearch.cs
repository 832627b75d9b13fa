using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Quantization;

/// <summary>The outcome of <see cref="AutoRecipeSearch.Run"/>.</summary>
public sealed record AutoSearchResult(IReadOnlyList<QuantizationCandidate> Candidates, QuantizationCandidate Chosen)
{
    /// <summary>False when no candidate was within the bound and the most accurate one was kept instead.</summary>
    public bool WithinBound => Chosen.WithinBound;

    /// <summary>
    /// This search's candidates and then each of <paramref name="alternatives"/>, measured and marked for the bound in
    /// turn; the chosen one moves to an alternative that <paramref name="isBetter"/> says beats it. A step after a
    /// search (the output projection's precision, a mix of group sizes) that may replace its choice.
    /// </summary>
    internal AutoSearchResult ThenTry<T>(IEnumerable<T> alternatives, Func<T, QuantizationCandidate> measure, double maxLoss,
        Func<QuantizationCandidate, QuantizationCandidate, bool> isBetter, string parameterName)
    {
        var tried = Candidates.ToList();
        int chosen = tried.FindIndex(c => c.Chosen);
        if (chosen < 0) throw new ArgumentException("The search before this step marks no candidate as chosen.", parameterName);
        foreach (var alternative in alternatives)
        {
            var candidate = measure(alternative);
            tried.Add(candidate with { WithinBound = AutoRecipeSearch.IsWithinBound(candidate, maxLoss), Chosen = false });
            if (isBetter(tried[^1], tried[chosen])) chosen = tried.Count - 1;
        }
        var marked = tried.Select((c, i) => c with { Chosen = i == chosen }).ToList();
        return new AutoSearchResult(marked, marked[chosen]);
    }
}

/// <summary>
/// The automatic recipe: candidates are tried from the fewest bits per weight up (round-to-nearest with groups of 128
/// first, finer groups and zero points later; at each size the cheaper recipes first), each measured on evaluation
/// text. The search stops after the first size at which some candidate keeps perplexity within the bound, and keeps,
/// of those, the one with the lowest KL divergence; if none does at any size, it keeps the one with the lowest KL
/// divergence overall (the most accurate), and says so. "Size" is the bits per weight of one uniform format here; the
/// step after it (<see cref="AutoMixSearch"/>) widens it to a budget: every format within the chosen group size's
/// budget (4.25 bits at groups of 128) counts as that size, so there the lower KL divergence decides among them.
/// </summary>
public static class AutoRecipeSearch
{
    /// <summary>Recipes at each size, cheapest to run first.</summary>
    public static IReadOnlyList<Int4Recipe> Recipes { get; } = [Int4Recipe.RoundToNearest, Int4Recipe.MinimizeError, Int4Recipe.Awq, Int4Recipe.Gptq];

    /// <summary>
    /// The formats to try, fewest bits first: each of <paramref name="groupSizes"/> (default 128, 64, 32) symmetric and
    /// with zero points (or only as <paramref name="asymmetric"/> says), times <see cref="Recipes"/>.
    /// </summary>
    public static IReadOnlyList<Int4Format> Candidates(IReadOnlyList<int>? groupSizes = null, bool? asymmetric = null)
    {
        groupSizes ??= [128, 64, 32];
        bool[] symmetries = asymmetric is { } a ? [a] : [false, true];
        return groupSizes.SelectMany(g => symmetries.Select(s => new Int4Format(g, s)))
            .OrderBy(SizeOf)
            .SelectMany(f => Recipes.Select(r => f with { Recipe = r }))
            .ToList();
    }

    /// <summary>Whether a candidate's perplexity is within <paramref name="maxLoss"/> (relative) of the float model's.</summary>
    public static bool IsWithinBound(QuantizationCandidate candidate, double maxLoss) =>
        candidate.QuantizedPerplexity <= candidate.FloatPerplexity * (1 + maxLoss);

    /// <summary>
    /// Whether <paramref name="a"/> is the better choice than <paramref name="b"/>: within the bound beats outside it;
    /// within it, fewer bits, then lower KL divergence; outside it, lower KL divergence.
    /// </summary>
    public static bool IsBetter(QuantizationCandidate a, QuantizationCandidate b)
    {
        if (a.WithinBound != b.WithinBound) return a.WithinBound;
        if (a.WithinBound && a.BitsPerWeight != b.BitsPerWeight) return a.BitsPerWeight < b.BitsPerWeight;
        return a.KlDivergence < b.KlDivergence;
    }

    /// <summary>Bits per weight of a format, for ordering: per-channel counted as one scale per 4,096 weights.</summary>
    private static double SizeOf(Int4Format format) => format.BitsPerWeight(4096);

    /// <param name="formats">In the order to try them, sizes ascending (as <see cref="Candidates"/> gives them).</param>
    /// <param name="measure">Quantizes and measures one format; called once per format tried.</param>
    /// <param name="maxLoss">Largest relative perplexity increase accepted, 0.01 for 1%.</param>
    public static AutoSearchResult Run(IReadOnlyList<Int4Format> formats, Func<Int4Format, QuantizationCandidate> measure, double maxLoss)
    {
        if (formats.Count == 0) throw new ArgumentException("No candidates to try.", nameof(formats));
        var tried = new List<QuantizationCandidate>();
        double? qualifyingBits = null;
        foreach (var format in formats)
        {
            // Sizes come in ascending order: once a size has qualified, a larger one never wins, so it is not tried.
            if (qualifyingBits is { } bits && SizeOf(format) > bits) break;
            var candidate = measure(format);
            candidate = candidate with { WithinBound = IsWithinBound(candidate, maxLoss) };
            tried.Add(candidate);
            if (candidate.WithinBound) qualifyingBits ??= SizeOf(format);
        }
        var chosen = tried.Aggregate((best, c) => IsBetter(c, best) ? c : best);
        var marked = tried.Select(c => ReferenceEquals(c, chosen) ? c with { Chosen = true } : c).ToList();
        return new AutoSearchResult(marked, marked.Single(c => c.Chosen));
    }
}
