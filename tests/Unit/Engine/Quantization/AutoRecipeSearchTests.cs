using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class AutoRecipeSearchTests
{
    private const double FloatPerplexity = 100;

    /// <summary>A measurement that gives each format the perplexity increase and KL divergence the table says.</summary>
    private static Func<Int4Format, QuantizationCandidate> Fake(Dictionary<Int4Format, (double Increase, double Kl)> table, List<Int4Format> asked) => format =>
    {
        asked.Add(format);
        var (increase, kl) = table.TryGetValue(format, out var v) ? v : (0.5, 0.5);
        return new QuantizationCandidate
        {
            Recipe = format.Recipe.ToString(), GroupSize = format.GroupSize, Asymmetric = format.Asymmetric, BitsPerWeight = format.BitsPerWeight(4096),
            FloatPerplexity = FloatPerplexity, QuantizedPerplexity = FloatPerplexity * (1 + increase), KlDivergence = kl, SameTopTokenRate = 0.9,
            QuantizationTime = TimeSpan.FromSeconds(1),
        };
    };

    [Fact]
    public void CandidatesRunFromTheFewestBitsUpAndCheaperRecipesFirst()
    {
        var formats = AutoRecipeSearch.Candidates();
        Assert.Equal(new Int4Format(128, false, Int4Recipe.RoundToNearest), formats[0]);
        for (int i = 1; i < formats.Count; i++) Assert.True(formats[i].BitsPerWeight(4096) >= formats[i - 1].BitsPerWeight(4096));
        Assert.Equal([Int4Recipe.RoundToNearest, Int4Recipe.MinimizeError, Int4Recipe.Awq, Int4Recipe.Gptq], formats.Take(4).Select(f => f.Recipe));
        Assert.Equal(new Int4Format(32, true, Int4Recipe.Gptq), formats[^1]);
        Assert.Equal(3 * 2 * 4, formats.Count);
    }

    [Fact]
    public void ItKeepsTheFewestBitsWithinTheBoundAndStopsThere()
    {
        var g128 = new Int4Format(128, false);
        var g64 = new Int4Format(64, false);
        var table = new Dictionary<Int4Format, (double, double)>
        {
            // At 128 nothing qualifies; at 64 two do, and the lower KL wins among them.
            [g128 with { Recipe = Int4Recipe.Gptq }] = (0.011, 0.001),
            [g64 with { Recipe = Int4Recipe.MinimizeError }] = (0.009, 0.020),
            [g64 with { Recipe = Int4Recipe.Awq }] = (0.008, 0.010),
            [g64 with { Recipe = Int4Recipe.Gptq }] = (0.015, 0.005),
            // Finer and better, but more bits: never reached.
            [new Int4Format(32, false, Int4Recipe.RoundToNearest)] = (0.001, 0.0001),
        };
        var asked = new List<Int4Format>();
        var result = AutoRecipeSearch.Run(AutoRecipeSearch.Candidates(asymmetric: false), Fake(table, asked), 0.01);
        Assert.True(result.WithinBound);
        Assert.Equal("Awq", result.Chosen.Recipe);
        Assert.Equal(64, result.Chosen.GroupSize);
        Assert.Single(result.Candidates, c => c.Chosen);
        Assert.DoesNotContain(asked, f => f.GroupSize == 32);
        Assert.Equal(8, asked.Count);
        Assert.Equal(result.Candidates.Count, asked.Count);
    }

    [Fact]
    public void WhenNoneQualifiesTheMostAccurateIsKeptAndMarkedOutsideTheBound()
    {
        var table = new Dictionary<Int4Format, (double, double)> { [new Int4Format(32, true, Int4Recipe.Gptq)] = (0.02, 0.001) };
        var asked = new List<Int4Format>();
        var result = AutoRecipeSearch.Run(AutoRecipeSearch.Candidates(), Fake(table, asked), 0.01);
        Assert.False(result.WithinBound);
        Assert.Equal(24, asked.Count);
        Assert.Equal(new Int4Format(32, true, Int4Recipe.Gptq), new Int4Format(result.Chosen.GroupSize, result.Chosen.Asymmetric, Enum.Parse<Int4Recipe>(result.Chosen.Recipe)));
    }

    [Fact]
    public void TheBoundIsRelativeToTheFloatPerplexity()
    {
        var table = new Dictionary<Int4Format, (double, double)> { [new Int4Format(128, false)] = (0.049, 0.3) };
        var result = AutoRecipeSearch.Run(AutoRecipeSearch.Candidates(), Fake(table, []), 0.05);
        Assert.Equal(new Int4Format(128, false).Recipe.ToString(), result.Chosen.Recipe);
        Assert.Equal(128, result.Chosen.GroupSize);
        Assert.Equal(4, result.Candidates.Count); // the other recipes at the same size are still measured
    }
}
