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

    [Theory]
    [InlineData(-1f, 40, 0.9f)]
    [InlineData(1f, -1, 0.9f)]
    [InlineData(1f, 40, 0f)]
    [InlineData(1f, 40, 1.5f)]
    public void InvalidOptionsAreRefused(float temperature, int topK, float topP) =>
        Assert.Throws<GenerationArgumentException>(() => new Sampler(new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP }, 10));
}
