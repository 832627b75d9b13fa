using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class SamplerTests
{
    private static float[] RandomLogits(int seed, int count = 1000)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 10 - 5)).ToArray();
    }

    [Fact]
    public void GreedyPicksTheLargestLogit()
    {
        var logits = RandomLogits(1);
        int expected = Array.IndexOf(logits, logits.Max());
        Assert.Equal(expected, new Sampler(SamplingOptions.Greedy, logits.Length).Sample(logits));
    }

    [Fact]
    public void TopKOfOneIsGreedy()
    {
        var logits = RandomLogits(2);
        var sampler = new Sampler(new SamplingOptions { Temperature = 1.5f, TopK = 1, Seed = 7 }, logits.Length);
        Assert.Equal(Array.IndexOf(logits, logits.Max()), sampler.Sample(logits));
    }

    [Fact]
    public void SameSeedSameDraws()
    {
        var logits = RandomLogits(3);
        var options = new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, Seed = 42 };
        var a = new Sampler(options, logits.Length);
        var b = new Sampler(options, logits.Length);
        var drawsA = Enumerable.Range(0, 50).Select(_ => a.Sample(logits)).ToArray();
        var drawsB = Enumerable.Range(0, 50).Select(_ => b.Sample(logits)).ToArray();
        Assert.Equal(drawsA, drawsB);
        Assert.True(drawsA.Distinct().Count() > 1, "temperature 1 over 1000 near-uniform logits should not always draw the same token");
    }

    [Fact]
    public void TopKKeepsOnlyTheKLargest()
    {
        var logits = RandomLogits(4);
        var top = logits.Select((v, i) => (v, i)).OrderByDescending(p => p.v).Take(5).Select(p => p.i).ToHashSet();
        var sampler = new Sampler(new SamplingOptions { Temperature = 5, TopK = 5, TopP = 1, Seed = 1 }, logits.Length);
        for (int i = 0; i < 200; i++) Assert.Contains(sampler.Sample(logits), top);
    }

    [Fact]
    public void TopPKeepsTheSmallestSufficientSet()
    {
        // Probabilities after softmax: about 0.64, 0.24, 0.09, 0.03: top-p 0.8 keeps the first two only.
        float[] logits = [3, 2, 1, 0];
        var sampler = new Sampler(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 0.8f, Seed = 3 }, logits.Length);
        var draws = Enumerable.Range(0, 300).Select(_ => sampler.Sample(logits)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, draws);
    }

    /// <summary>Logits of the size real models produce (tens to a hundred), the top one leading by 2.</summary>
    private static float[] LogitsWithALeader(int seed, float offset, out int leader)
    {
        var random = new Random(seed);
        var logits = Enumerable.Range(0, 32000).Select(_ => offset + (float)(random.NextDouble() * 20 - 10)).ToArray();
        leader = random.Next(logits.Length);
        logits[leader] = logits.Max() + 2;
        return logits;
    }

    [Theory]
    [InlineData(1e-3f, 0f)]
    [InlineData(0.01f, 0f)]
    [InlineData(0.05f, 0f)]
    [InlineData(0.01f, 100f)]
    [InlineData(0.05f, 100f)]
    [InlineData(1e-3f, -100f)]
    public void LowTemperaturesDrawTheLeaderWhenItLeadsByAWideMargin(float temperature, float offset)
    {
        // At temperature 0.05 a lead of 2 is a factor of e^40 over the runner-up: any other draw is a bug (it was the
        // 40th-ranked token once exp overflowed).
        var logits = LogitsWithALeader(11, offset, out int leader);
        foreach (var (k, p) in new[] { (40, 0.95f), (0, 1f), (1000, 0.5f) })
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = temperature, TopK = k, TopP = p, Seed = 9 }, logits.Length);
            for (int i = 0; i < 20; i++) Assert.Equal(leader, sampler.Sample(logits));
        }
    }

    [Theory]
    [InlineData(1f, 40, 0.95f)]
    [InlineData(0.8f, 0, 1f)]
    [InlineData(2f, 100, 0.5f)]
    public void ADrawDoesNotChangeWhenEveryLogitIsShiftedBy1000(float temperature, int topK, float topP)
    {
        // Multiples of 1/64 within +-8: exactly representable after adding 1000, so the shifted logits are the same
        // distribution, and the max-shifted sampler must draw exactly the same tokens.
        var random = new Random(4);
        var logits = Enumerable.Range(0, 5000).Select(_ => random.Next(-512, 512) / 64f).ToArray();
        var shifted = logits.Select(v => v + 1000f).ToArray();
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, Seed = 77 };
        var a = new Sampler(options, logits.Length);
        var b = new Sampler(options, logits.Length);
        var drawsA = Enumerable.Range(0, 200).Select(_ => a.Sample(logits)).ToArray();
        var drawsB = Enumerable.Range(0, 200).Select(_ => b.Sample(shifted)).ToArray();
        Assert.Equal(drawsA, drawsB);
        Assert.True(drawsA.Distinct().Count() > 1);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.8f)]
    public void LogitsThatAreNotANumberAreAClearError(float temperature)
    {
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity })
        {
            var logits = RandomLogits(5);
            logits[123] = bad;
            var sampler = new Sampler(new SamplingOptions { Temperature = temperature, Seed = 1 }, logits.Length);
            var error = Assert.Throws<ModelNumericException>(() => sampler.Sample(logits));
            Assert.Contains("no token can be sampled", error.Message);
        }
        var allBanned = Enumerable.Repeat(float.NegativeInfinity, 10).ToArray();
        Assert.Throws<ModelNumericException>(() => new Sampler(new SamplingOptions { Temperature = temperature }, 10).Sample(allBanned));
    }

    [Fact]
    public void BannedTokensAtMinusInfinityAreNeverDrawn()
    {
        var logits = RandomLogits(6, 50);
        for (int i = 0; i < 50; i += 2) logits[i] = float.NegativeInfinity;
        var sampler = new Sampler(new SamplingOptions { Temperature = 5, TopK = 0, TopP = 1, Seed = 2 }, logits.Length);
        for (int i = 0; i < 300; i++) Assert.True(sampler.Sample(logits) % 2 == 1);
    }

    [Theory]
    [InlineData(-1f, 40, 0.9f)]
    [InlineData(1f, -1, 0.9f)]
    [InlineData(1f, 40, -0.1f)]
    [InlineData(1f, 40, 1.5f)]
    public void InvalidOptionsAreRefused(float temperature, int topK, float topP) =>
        Assert.Throws<GenerationArgumentException>(() => new Sampler(new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP }, 10));
}
