using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Quantization;

/// <summary>A format <see cref="AutoMixSearch"/> tries: each kind of matrix's group size, zero points or not, and its bits per weight on the model.</summary>
public sealed record MixedFormat(MatrixGroupSizes GroupSizes, bool Asymmetric, double BitsPerWeight)
{
    public override string ToString() => $"{GroupSizes} {(Asymmetric ? "asym" : "sym")}: {BitsPerWeight:F3} bits per weight";
}

/// <summary>
/// The automatic recipe's second step, after <see cref="AutoRecipeSearch"/> has chosen a recipe and a group size:
/// every other format that spends no more bits than that group size's budget (<see cref="Budget"/>: 4.25 bits per
/// weight at groups of 128) counts as the same size, and is tried with the chosen recipe. These are the same group size
/// with the other symmetry, and mixes of group sizes per kind of matrix (<see cref="MatrixGroupSizes"/>) whose largest
/// group is the chosen one. Of the chosen candidate and these, within the accuracy bound beats outside it, then the
/// lower KL divergence wins: within a budget, size no longer decides. On the bundled model finer groups for the
/// feed-forward down and attention matrices lower the KL divergence at groups of 128 by about a fifth at 4.25 bits
/// (docs/quantization.md).
/// </summary>
public static class AutoMixSearch
{
    /// <summary>
    /// Bits per weight a format may spend and count as groups of <paramref name="groupSize"/>: those of groups half as
    /// large without zero points (4.25 at 128, 4.5 at 64); no more than the plain group size's own for 32 and per-channel,
    /// which have no finer groups to mix in.
    /// </summary>
    public static double Budget(int groupSize) => groupSize is 128 or 64
        ? new Int4Format(groupSize / 2, false).BitsPerWeight(groupSize)
        : new Int4Format(groupSize, true).BitsPerWeight(4096);

    /// <summary>
    /// The mixes at <paramref name="groupSize"/> for a model of <paramref name="config"/>'s shape: each kind of matrix in
    /// groups of <paramref name="groupSize"/>, half or a quarter of it (not below 32), at least one kind at
    /// <paramref name="groupSize"/> and not all, within <see cref="Budget"/>, and maximal: no kind could take finer groups
    /// and stay within it (a mix with a kind left coarser than the budget allows is not tried). Symmetric, with zero
    /// points, or both as <paramref name="asymmetric"/> says; fewest bits first.
    /// </summary>
    public static IReadOnlyList<MixedFormat> Mixes(ModelConfig config, int groupSize, bool? asymmetric = null)
    {
        if (groupSize is not (128 or 64)) return [];
        double budget = Budget(groupSize);
        int[] sizes = new[] { groupSize, groupSize / 2, groupSize / 4 }.Where(g => g >= 32).ToArray();
        bool[] symmetries = asymmetric is { } a ? [a] : [false, true];
        var result = new List<MixedFormat>();
        foreach (bool asym in symmetries)
        {
            foreach (var mix in Assignments(sizes))
            {
                if (mix.IsUniform || MatrixGroupSizes.Kinds.All(k => mix[k] != groupSize)) continue;
                double bits = mix.BitsPerWeight(config, asym);
                if (bits > budget + 1e-9) continue;
                bool maximal = MatrixGroupSizes.Kinds.All(k =>
                    sizes.Where(s => s < mix[k]).All(finer => mix.With(k, finer).BitsPerWeight(config, asym) > budget + 1e-9));
                if (maximal) result.Add(new MixedFormat(mix, asym, bits));
            }
        }
        return result.OrderBy(m => m.BitsPerWeight).ThenBy(m => m.Asymmetric).ToList();
    }

    /// <summary>Every assignment of <paramref name="sizes"/> to the four kinds of matrix.</summary>
    private static IEnumerable<MatrixGroupSizes> Assignments(int[] sizes) =>
        from q in sizes from o in sizes from g in sizes from d in sizes select new MatrixGroupSizes(q, o, g, d);

    /// <summary>
    /// What is tried after <paramref name="chosen"/> (a uniform format at its group size): the same group size with zero
    /// points when the chosen one has none (the recipe search tries zero points only when no symmetric candidate is
    /// within the bound) and <paramref name="asymmetric"/> allows them, then the mixes.
    /// </summary>
    public static IReadOnlyList<MixedFormat> Alternatives(ModelConfig config, QuantizationCandidate chosen, bool? asymmetric = null)
    {
        int g = chosen.GroupSize;
        if (g is not (128 or 64)) return [];
        var result = new List<MixedFormat>();
        var uniform = MatrixGroupSizes.Uniform(g);
        if (!chosen.Asymmetric && asymmetric is null or true)
            result.Add(new MixedFormat(uniform, true, uniform.BitsPerWeight(config, true)));
        result.AddRange(Mixes(config, g, asymmetric));
        return result;
    }

    /// <summary>Within the bound beats outside it; then the lower KL divergence (every candidate here is within the same budget).</summary>
    public static bool IsBetter(QuantizationCandidate a, QuantizationCandidate b) =>
        a.WithinBound != b.WithinBound ? a.WithinBound : a.KlDivergence < b.KlDivergence;

    /// <param name="layers">The recipe search's result; its chosen candidate gives the recipe and group size.</param>
    /// <param name="alternatives">From <see cref="Alternatives"/>.</param>
    /// <param name="measure">Quantizes with the chosen recipe in the given format and measures it.</param>
    /// <param name="maxLoss">Largest relative perplexity increase accepted, 0.01 for 1%.</param>
    public static AutoSearchResult Run(AutoSearchResult layers, IReadOnlyList<MixedFormat> alternatives, Func<MixedFormat, QuantizationCandidate> measure,
        double maxLoss)
        => layers.ThenTry(alternatives, measure, maxLoss, IsBetter, nameof(layers));
}
