using LlmCpu.Engine.Runtime;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class PerplexityStatisticsTests
{
    [Fact]
    public void PerplexityAndItsStandardErrorAreLlamaPerplexitys()
    {
        double[] nll = [1.0, 2.0, 4.0, 3.0];
        var statistics = new PerplexityStatistics(nll.Length, withReference: false);
        foreach (double v in nll) statistics.Add(new PositionScore(v, 0, 0, 0, false));

        double mean = nll.Average();
        // llama-perplexity: sqrt((mean of squares - square of mean) / (n - 1)), times the perplexity.
        double expectedError = Math.Exp(mean) * Math.Sqrt((nll.Average(v => v * v) - mean * mean) / (nll.Length - 1));
        Assert.Equal(Math.Exp(mean), statistics.Perplexity, 1e-12);
        Assert.Equal(expectedError, statistics.StandardError, 1e-12);
        Assert.Equal(4, statistics.Count);
    }

    [Fact]
    public void ReferenceFiguresFollowTheKlModeDefinitions()
    {
        var statistics = new PerplexityStatistics(4, withReference: true);
        statistics.Add(new PositionScore(2.0, 1.5, 0.10, 0.2, true));
        statistics.Add(new PositionScore(1.0, 1.0, 0.00, 0.0, true));
        statistics.Add(new PositionScore(3.0, 2.5, 0.30, -0.1, false));
        statistics.Add(new PositionScore(0.5, 1.0, 0.20, 0.1, true));

        Assert.Equal(Math.Exp(6.0 / 4), statistics.ReferencePerplexity, 1e-12);
        Assert.Equal(Math.Exp((6.5 - 6.0) / 4), statistics.PerplexityRatio, 1e-12);
        Assert.Equal(statistics.Perplexity / statistics.ReferencePerplexity, statistics.PerplexityRatio, 1e-12);
        Assert.Equal(0.15, statistics.KlDivergence, 1e-12);
        Assert.Equal(Math.Sqrt((0.04 + 0 + 0.01 + 0.01) / 4), statistics.RmsProbabilityDelta, 1e-12);
        Assert.Equal(0.05, statistics.MeanProbabilityDelta, 1e-12);
        Assert.Equal(0.75, statistics.SameTopTokenRate);
        var (median, p99, maximum) = statistics.KlDivergenceQuantiles();
        Assert.Equal(0.15, median, 1e-12);                      // mean of the middle two of 0, 0.1, 0.2, 0.3
        Assert.Equal(0.2 + 0.97 * 0.1, p99, 1e-12);             // 0.99 * 3 = 2.97: between the third and fourth
        Assert.Equal(0.3, maximum);
    }

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(1.0, 5.0)]
    [InlineData(0.5, 3.0)]
    [InlineData(0.9, 4.6)]
    public void PercentilesInterpolateAsLlamaPerplexityDoes(double fraction, double expected)
    {
        double[] sorted = [1, 2, 3, 4, 5];
        Assert.Equal(expected, PerplexityStatistics.Percentile(sorted, fraction), 1e-12);
    }
}
