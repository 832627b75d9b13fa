using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class TokenLatencyBenchmarkTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Fact]
    public void ReportsBothTestsWithConsistentFigures()
    {
        using var pool = new WorkerPool(2);
        var summary = TokenLatencyBenchmark.Run(fixture.Model,
            new TokenLatencyOptions { PromptTokens = 48, GenerateTokens = 16, Repetitions = 3, WarmUp = 1 }, pool);
        Assert.Equal(["pp48", "tg16"], summary.Tests.Select(t => t.Test));
        foreach (var test in summary.Tests)
        {
            Assert.Equal(3, test.Repetitions);
            Assert.True(test.TokensPerSecond > 0 && test.StandardDeviation >= 0);
            Assert.True(test.P50Milliseconds > 0 && test.P50Milliseconds <= test.P90Milliseconds && test.P90Milliseconds <= test.P99Milliseconds);
            Assert.Equal(2, test.Threads);
            Assert.Equal(fixture.Model.WeightBytes, test.ModelBytes);
        }
        var pp = summary.Tests[0];
        var tg = summary.Tests[1];
        // The prompt's first-token time is the mean of its repetitions' whole times, and its rate the mean of their rates,
        // so tokens / rate is their harmonic mean: never above the mean time, which is never above the slowest
        // repetition's (48 x the largest per-token time). Exact bounds, whatever the load (to the figures' rounding).
        Assert.InRange(pp.FirstTokenMilliseconds, 0.999 * 1000 * 48 / pp.TokensPerSecond, 1.001 * 48 * pp.P99Milliseconds);
        Assert.Equal(summary.PromptTokensPerSecond, pp.TokensPerSecond);
        Assert.Equal(summary.GenerateTokensPerSecond, tg.TokensPerSecond);
        // Decode's bandwidth: every weight but the embedding table (and the small KV cache), times tokens per second.
        var w = fixture.Model.Weights;
        double weights = w.ByteSize - w.TokenEmbedding.ByteSize;
        double bytesPerToken = TokenLatencyBenchmark.BytesReadPerToken(fixture.Model, 16);
        Assert.InRange(bytesPerToken, weights, 1.1 * weights);
        Assert.Equal(tg.BandwidthGBps, Math.Round(bytesPerToken * tg.TokensPerSecond / 1e9, 2));
        Assert.True(tg.ReadBandwidthGBps > 0.5, $"read bandwidth {tg.ReadBandwidthGBps} GB/s");
        // The samples are the repetitions' figures: their mean is the rate, the readings' median the read bandwidth, and
        // the fraction the median of each repetition's decode bandwidth over the reading beside it (exactly, whatever
        // the machine's load did to the figures; FractionIsTheMedianOfEachRepetitionsRatio pins that arithmetic).
        foreach (var test in summary.Tests)
        {
            Assert.Equal(3, test.TokensPerSecondSamples.Count);
            Assert.Equal(test.TokensPerSecond, Math.Round(test.TokensPerSecondSamples.Average(), 2));
        }
        var reads = tg.ReadBandwidthGBpsSamples!;
        Assert.Equal(3, reads.Count);
        Assert.All(reads, r => Assert.True(r > 0.5 && double.IsFinite(r), $"read bandwidth {r} GB/s"));
        Assert.Equal(tg.ReadBandwidthGBps, Math.Round(Median.Of(reads), 2));
        Assert.Equal(tg.FractionOfBandwidth, Math.Round(TokenLatencyBenchmark.FractionOfBandwidth(bytesPerToken, tg.TokensPerSecondSamples, reads), 3));
        Assert.Null(pp.ReadBandwidthGBpsSamples);
        Assert.Null(pp.FractionOfBandwidth);
    }

    [Fact]
    public void FractionIsTheMedianOfEachRepetitionsRatio()
    {
        // 1 GB a token; the second repetition ran at 20 t/s while a slow spell halved the read beside it: its ratio is
        // 0.5, the others' 1, so the median is 1 where mean rate over median read (20 / 30) would say 0.67.
        Assert.Equal(1.0, TokenLatencyBenchmark.FractionOfBandwidth(1e9, [10, 20, 30], [10, 40, 30]), 12);
        Assert.Equal(0.75, TokenLatencyBenchmark.FractionOfBandwidth(1e9, [10, 20], [10, 40]), 12);
    }

    [Fact]
    public void ZeroSkipsATest()
    {
        using var pool = new WorkerPool(1);
        var summary = TokenLatencyBenchmark.Run(fixture.Model,
            new TokenLatencyOptions { PromptTokens = 0, GenerateTokens = 4, Repetitions = 1, WarmUp = 0, MeasureBandwidth = false }, pool);
        Assert.Equal("tg4", Assert.Single(summary.Tests).Test);
        Assert.Null(summary.PromptTokensPerSecond);
        Assert.Null(summary.Tests[0].FractionOfBandwidth);
    }

    [Theory]
    [InlineData(257, 8, 1)]
    [InlineData(8, 256, 1)]
    [InlineData(8, 8, 0)]
    public void CountsTheModelCannotRunAreRefused(int prompt, int generate, int repetitions)
    {
        var options = new TokenLatencyOptions { PromptTokens = prompt, GenerateTokens = generate, Repetitions = repetitions };
        Assert.Throws<GenerationArgumentException>(() => TokenLatencyBenchmark.Run(fixture.Model, options, WorkerPool.Shared));
    }

    [Fact]
    public void CancellationStopsBetweenTokens()
    {
        using var stop = new CancellationTokenSource();
        stop.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => TokenLatencyBenchmark.Run(fixture.Model, new TokenLatencyOptions { PromptTokens = 8 }, WorkerPool.Shared, cancellation: stop.Token));
    }
}
