using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class AutoMixSearchTests
{
    private static readonly LlmCpu.Engine.Models.ModelConfig Fixture = MatrixGroupSizesTests.Fixture;

    [Fact]
    public void TheBudgetAtGroupsOf128Is425Bits()
    {
        Assert.Equal(4.25, AutoMixSearch.Budget(128), 12);
        Assert.Equal(4.5, AutoMixSearch.Budget(64), 12);
        Assert.Empty(AutoMixSearch.Mixes(Fixture, 32));
        Assert.Empty(AutoMixSearch.Mixes(Fixture, -1));
    }

    [Fact]
    public void MixesAt128AreEveryMaximalMixWithinTheBudgetAndNoneOverIt()
    {
        var mixes = AutoMixSearch.Mixes(Fixture, 128);
        Assert.NotEmpty(mixes);
        // An independent enumeration: every assignment of 128, 64 and 32 to the four kinds, with bits counted from the
        // shapes by hand (extra bits 16 / group, 24 / group with zero points, weighted by weights per kind).
        long[] weights = [98_304, 65_536, 393_216, 196_608];
        int[] sizes = [128, 64, 32];
        double Bits(int[] g, bool asym) => 4 + Enumerable.Range(0, 4).Sum(k => weights[k] * (asym ? 24.0 : 16.0) / g[k]) / weights.Sum();
        var expected = new HashSet<(int, int, int, int, bool)>();
        foreach (bool asym in new[] { false, true })
            foreach (int q in sizes) foreach (int o in sizes) foreach (int u in sizes) foreach (int d in sizes)
            {
                int[] g = [q, o, u, d];
                if (g.All(x => x == g[0]) || !g.Contains(128) || Bits(g, asym) > 4.25 + 1e-12) continue;
                bool canRefine = Enumerable.Range(0, 4).Any(k => sizes.Where(s => s < g[k]).Any(s =>
                {
                    var finer = (int[])g.Clone();
                    finer[k] = s;
                    return Bits(finer, asym) <= 4.25 + 1e-12;
                }));
                if (!canRefine) expected.Add((q, o, u, d, asym));
            }
        Assert.Equal(expected.OrderBy(x => x), mixes.Select(m => (m.GroupSizes.QueryKeyValue, m.GroupSizes.AttentionOutput, m.GroupSizes.GateUp, m.GroupSizes.Down, m.Asymmetric)).OrderBy(x => x));
        Assert.All(mixes, m => Assert.InRange(m.BitsPerWeight, 4.125, 4.25 + 1e-12));
        Assert.All(mixes, m => Assert.Equal(m.GroupSizes.BitsPerWeight(Fixture, m.Asymmetric), m.BitsPerWeight));
        // The mix measured in docs/quantization.md: down in 32, Q/K/V and attention output in 64, gate/up in 128.
        Assert.Contains(mixes, m => m.GroupSizes == new MatrixGroupSizes(64, 64, 128, 32) && !m.Asymmetric);
        // Fewest bits first.
        Assert.Equal(mixes.OrderBy(m => m.BitsPerWeight).Select(m => m.BitsPerWeight), mixes.Select(m => m.BitsPerWeight));
        Assert.All(AutoMixSearch.Mixes(Fixture, 128, asymmetric: false), m => Assert.False(m.Asymmetric));
    }

    private static QuantizationCandidate Candidate(double increase, double kl, double bits, int groupSize = 128, bool asym = false, MatrixGroupSizes? sizes = null) => new()
    {
        Recipe = "Gptq", GroupSize = groupSize, Asymmetric = asym, BitsPerWeight = bits, FloatPerplexity = 100, QuantizedPerplexity = 100 * (1 + increase),
        KlDivergence = kl, SameTopTokenRate = 0.9, QuantizationTime = TimeSpan.FromSeconds(1), MatrixGroupSizes = sizes ?? MatrixGroupSizes.Uniform(groupSize),
    };

    [Fact]
    public void AlternativesAreZeroPointsAtTheSameSizeThenTheMixes()
    {
        var chosen = Candidate(0, 0.01, 4.125);
        var alternatives = AutoMixSearch.Alternatives(Fixture, chosen);
        Assert.Equal(new MixedFormat(MatrixGroupSizes.Uniform(128), true, 4.1875), alternatives[0]);
        Assert.Equal(AutoMixSearch.Mixes(Fixture, 128), alternatives.Skip(1));
        Assert.All(alternatives, a => Assert.True(a.BitsPerWeight <= AutoMixSearch.Budget(128)));
        // Symmetric only: no zero points at all.
        Assert.All(AutoMixSearch.Alternatives(Fixture, chosen, asymmetric: false), a => Assert.False(a.Asymmetric));
        // A choice with zero points: symmetric g128 was measured before it, so only the mixes are left.
        Assert.Equal(AutoMixSearch.Mixes(Fixture, 128), AutoMixSearch.Alternatives(Fixture, Candidate(0, 0.01, 4.1875, asym: true)));
        Assert.Empty(AutoMixSearch.Alternatives(Fixture, Candidate(0, 0.01, 4.5, groupSize: 32)));
    }

    [Fact]
    public void WithinTheBudgetTheLowerKlWinsAndOutsideTheBoundNeverDoes()
    {
        var g128 = Candidate(0.002, 0.0050, 4.125) with { Chosen = true, WithinBound = true };
        var first = new AutoSearchResult([g128], g128);
        var table = new Dictionary<MatrixGroupSizes, (double Increase, double Kl)>
        {
            [new(64, 64, 128, 32)] = (0.004, 0.0037), // more bits, lower KL, within the bound: wins
            [new(32, 32, 128, 64)] = (0.020, 0.0010), // lowest KL, outside the bound
            [new(32, 64, 64, 128)] = (0.001, 0.0045),
        };
        var alternatives = table.Keys.Select(k => new MixedFormat(k, false, k.BitsPerWeight(Fixture, false))).ToList();
        var asked = new List<MixedFormat>();
        var result = AutoMixSearch.Run(first, alternatives, m =>
        {
            asked.Add(m);
            var (increase, kl) = table[m.GroupSizes];
            return Candidate(increase, kl, m.BitsPerWeight, sizes: m.GroupSizes);
        }, 0.01);
        Assert.Equal(alternatives, asked);
        Assert.Equal(4, result.Candidates.Count);
        Assert.Single(result.Candidates, c => c.Chosen);
        Assert.Equal(new MatrixGroupSizes(64, 64, 128, 32), result.Chosen.MatrixGroupSizes);
        Assert.True(result.WithinBound);
        Assert.False(result.Candidates.Single(c => c.MatrixGroupSizes == new MatrixGroupSizes(32, 32, 128, 64)).WithinBound);
    }

    [Fact]
    public void AChoiceOutsideTheBoundGivesWayToAMixWithinIt()
    {
        var outside = Candidate(0.02, 0.001, 4.125) with { Chosen = true };
        var first = new AutoSearchResult([outside], outside);
        var mix = new MixedFormat(new MatrixGroupSizes(64, 64, 128, 32), false, 4.25);
        var result = AutoMixSearch.Run(first, [mix], m => Candidate(0.005, 0.004, m.BitsPerWeight, sizes: m.GroupSizes), 0.01);
        Assert.Equal(mix.GroupSizes, result.Chosen.MatrixGroupSizes);
        Assert.True(result.WithinBound);
    }
}
