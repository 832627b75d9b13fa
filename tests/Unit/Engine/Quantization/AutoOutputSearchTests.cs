using LlmCpu.Engine.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class AutoOutputSearchTests
{
    private const double FloatPerplexity = 100;

    private static QuantizationCandidate Candidate(string output, double increase, double kl, long bytes, bool withinBound) => new()
    {
        Recipe = "Gptq", GroupSize = 128, Asymmetric = false, BitsPerWeight = 4.125, FloatPerplexity = FloatPerplexity,
        QuantizedPerplexity = FloatPerplexity * (1 + increase), KlDivergence = kl, SameTopTokenRate = 0.9, QuantizationTime = TimeSpan.FromSeconds(1),
        OutputProjection = output, WeightBytes = bytes, WithinBound = withinBound,
    };

    /// <summary>A layers' search that tried two candidates and chose the second.</summary>
    private static AutoSearchResult Layers(double chosenIncrease, double maxLoss) =>
        new([Candidate("Int8", 0.05, 0.02, 1000, withinBound: false), Candidate("Int8", chosenIncrease, 0.01, 1100, chosenIncrease <= maxLoss) with { Chosen = true }],
            Candidate("Int8", chosenIncrease, 0.01, 1100, chosenIncrease <= maxLoss) with { Chosen = true });

    [Fact]
    public void AnInt4OutputWithinTheBoundWinsByItsFewerBytes()
    {
        var layers = Layers(0.004, 0.01);
        var asked = new List<OutputPrecision>();
        var result = AutoOutputSearch.Run(layers, output =>
        {
            asked.Add(output);
            return Candidate(output.ToString(), 0.009, 0.015, 900, withinBound: false); // the search sets WithinBound itself
        }, 0.01);
        Assert.Equal([OutputPrecision.Int4], asked);
        Assert.Equal(3, result.Candidates.Count);
        Assert.Equal("Int4", result.Chosen.OutputProjection);
        Assert.True(result.Chosen.WithinBound);
        Assert.Single(result.Candidates, c => c.Chosen);
        Assert.Same(result.Candidates[2], result.Chosen);
    }

    [Fact]
    public void AnInt4OutputOutsideTheBoundLeavesTheInt8Output()
    {
        var result = AutoOutputSearch.Run(Layers(0.004, 0.01), output => Candidate(output.ToString(), 0.012, 0.015, 900, false), 0.01);
        Assert.Equal(3, result.Candidates.Count);
        Assert.Equal("Int8", result.Chosen.OutputProjection);
        Assert.Same(result.Candidates[1], result.Chosen);
        Assert.False(result.Candidates[2].WithinBound);
    }

    [Fact]
    public void ALayersChoiceOutsideTheBoundIsNotTriedWithAnInt4Output()
    {
        var result = AutoOutputSearch.Run(Layers(0.03, 0.01), _ => throw new InvalidOperationException("not to be measured"), 0.01);
        Assert.Equal(2, result.Candidates.Count);
        Assert.Equal("Int8", result.Chosen.OutputProjection);
        Assert.False(result.WithinBound);
    }

    [Fact]
    public void WithinTheBoundFewerBytesWinThenLowerKl()
    {
        var small = Candidate("Int4", 0.009, 0.02, 900, true);
        var large = Candidate("Int8", 0.001, 0.01, 1100, true);
        Assert.True(AutoOutputSearch.IsBetter(small, large));
        Assert.False(AutoOutputSearch.IsBetter(large, small));
        // At equal size, the lower KL.
        Assert.True(AutoOutputSearch.IsBetter(large with { WeightBytes = 900 }, small));
        // Outside the bound, the lower KL whatever the size; within beats outside.
        Assert.True(AutoOutputSearch.IsBetter(large with { WithinBound = false }, small with { WithinBound = false }));
        Assert.True(AutoOutputSearch.IsBetter(small, large with { WithinBound = false }));
    }
}
