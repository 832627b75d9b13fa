using LlmCpu.Engine.Runtime.Sampling;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Each stage of the sampler chain on synthetic logits, against what llama.cpp's sampler of the same name keeps
/// (src/llama-sampler.cpp), computed here independently in double precision.
/// </summary>
public sealed class SamplerStagesTests
{
    private static Candidates From(params float[] logits)
    {
        var c = new Candidates(logits.Length);
        c.FillFrom(logits);
        return c;
    }

    private static int[] Kept(Candidates c) => c.IdSpan.ToArray();

    private static double[] Softmax(IEnumerable<float> logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        return e.Select(x => x / e.Sum()).ToArray();
    }

    [Fact]
    public void FillLeavesOutBannedTokens()
    {
        var c = From(1, float.NegativeInfinity, 3, float.NegativeInfinity);
        Assert.Equal([0, 2], Kept(c));
        Assert.False(c.Sorted);
    }

    [Fact]
    public void TopKKeepsTheKLargestSortedDescending()
    {
        var c = From(0.5f, 3, -1, 2, 7, 1);
        SamplerStages.TopK(c, 3);
        Assert.Equal([4, 1, 3], Kept(c));
        Assert.True(c.Sorted);
    }

    [Fact]
    public void TopKOfZeroKeepsAllInIdOrder()
    {
        var c = From(0.5f, 3, -1);
        SamplerStages.TopK(c, 0);
        Assert.Equal([0, 1, 2], Kept(c));
        Assert.False(c.Sorted);
    }

    [Theory]
    [InlineData(0.5f, new[] { 3 })]        // softmax of 0, 1, 2, 3 is .0321, .0871, .2369, .6439: id 3 alone reaches .5
    [InlineData(0.8f, new[] { 3, 2 })]     // .6439 + .2369 = .8808 >= .8
    [InlineData(0.9f, new[] { 3, 2, 1 })]  // .8808 falls short of .9
    [InlineData(0f, new[] { 3 })]          // 0 keeps the most likely token only
    [InlineData(1f, new[] { 0, 1, 2, 3 })] // 1 is off: nothing moves
    public void TopPKeepsTheSmallestSetReachingP(float p, int[] expected)
    {
        var c = From(0, 1, 2, 3);
        SamplerStages.TopP(c, p);
        Assert.Equal(expected, Kept(c));
    }

    [Theory]
    [InlineData(0.05f)]
    [InlineData(0.3f)]
    [InlineData(0.9f)]
    public void MinPKeepsTokensAtLeastPTimesAsLikelyAsTheBest(float p)
    {
        var random = new Random(5);
        var logits = Enumerable.Range(0, 200).Select(_ => (float)(random.NextDouble() * 8)).ToArray();
        var probabilities = Softmax(logits);
        double best = probabilities.Max();
        var expected = Enumerable.Range(0, logits.Length).Where(i => probabilities[i] >= p * best * (1 + 1e-5)).ToArray();
        var c = From(logits);
        SamplerStages.MinP(c, p);
        var kept = Kept(c);
        // Ties with the threshold within float rounding may go either way; everything clearly above must stay, in id order.
        Assert.Subset(kept.ToHashSet(), expected.ToHashSet());
        Assert.All(kept, id => Assert.True(probabilities[id] >= p * best * (1 - 1e-5)));
        Assert.Equal(kept.OrderBy(i => i), kept);
    }

    [Fact]
    public void MinPOfZeroKeepsAll()
    {
        var c = From(10, 0, -10);
        SamplerStages.MinP(c, 0);
        Assert.Equal([0, 1, 2], Kept(c));
    }

    [Theory]
    [InlineData(0.2f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void TypicalKeepsTheTokensNearestTheEntropy(float p)
    {
        var random = new Random(11);
        var logits = Enumerable.Range(0, 50).Select(_ => (float)(random.NextDouble() * 6)).ToArray();
        // Reference: surprise -ln q against entropy H; most typical first; stop once the sum exceeds p.
        var q = Softmax(logits);
        double entropy = -q.Sum(x => x * Math.Log(x));
        var order = Enumerable.Range(0, logits.Length).OrderBy(i => Math.Abs(-Math.Log(q[i]) - entropy)).ToArray();
        var expected = new List<int>();
        double sum = 0;
        foreach (int i in order)
        {
            expected.Add(i);
            sum += q[i];
            if (sum > p) break;
        }
        var c = From(logits);
        SamplerStages.Typical(c, p);
        Assert.Equal(expected, Kept(c));
        Assert.False(c.Sorted);
    }

    [Fact]
    public void TypicalPrefersTheMiddleOverTheMostLikely()
    {
        // One likely token (p .3) over a thousand-token tail: the entropy (5.4 nats) is far above the likely token's
        // surprise (1.2) and near the tail's (7.3), so typical-p keeps tail tokens and not the most likely one; this
        // is what distinguishes it from top-p.
        var logits = new float[1001];
        logits[0] = 6;
        var c = From(logits);
        SamplerStages.Typical(c, 0.5f);
        Assert.DoesNotContain(0, Kept(c));
        Assert.InRange(c.Count, 600, 800);
    }

    [Fact]
    public void TemperatureDividesTheLogits()
    {
        var c = From(1, -2, 4);
        SamplerStages.Temperature(c, 0.5f);
        Assert.Equal([2, -4, 8], c.LogitSpan.ToArray());
    }

    [Fact]
    public void TemperatureZeroKeepsTheFirstLargest()
    {
        var c = From(1, 4, -2, 4);
        SamplerStages.Temperature(c, 0);
        Assert.Equal([1], Kept(c));
    }

    [Theory]
    [InlineData(0.0, 0)]
    [InlineData(0.49, 0)]
    [InlineData(0.51, 1)]
    [InlineData(0.79, 1)]
    [InlineData(0.81, 2)]
    [InlineData(0.9999, 2)]
    public void DrawWalksTheCandidatesInOrderUntilTheUniformNumber(double uniform, int expected)
    {
        // Probabilities .5, .3, .2 in id order: cumulative .5, .8, 1.
        var c = From(MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f));
        Assert.Equal(expected, SamplerStages.Draw(c, uniform));
    }

    [Fact]
    public void DrawIsTheSameForLogitsShiftedBy1000()
    {
        var a = From(0.25f, 1.5f, -0.75f, 0.5f);
        var b = From(1000.25f, 1001.5f, 999.25f, 1000.5f);
        for (double u = 0.01; u < 1; u += 0.01) Assert.Equal(SamplerStages.Draw(a, u), SamplerStages.Draw(b, u));
    }

    [Fact]
    public void DrawNeverPicksAWeightThatUnderflowedToZero()
    {
        // At temperature 1e-3 the first candidate's weight exp(-2000) is 0: even a uniform draw of exactly 0 skips it.
        var c = From(0, 2);
        SamplerStages.Temperature(c, 1e-3f);
        Assert.Equal(1, SamplerStages.Draw(c, 0.0));
    }

    [Fact]
    public void RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        var penalty = new RepetitionPenalty(4, lastN: 64, repeat: 2f, frequency: 0, presence: 0);
        penalty.Accept(0);
        penalty.Accept(1);
        var logits = new float[] { 3, -3, 3, -3 };
        penalty.Apply(logits);
        Assert.Equal([1.5f, -6, 3, -3], logits);
    }

    [Fact]
    public void FrequencyCountsAndPresenceIsOnce()
    {
        var penalty = new RepetitionPenalty(3, lastN: 64, repeat: 1, frequency: 0.5f, presence: 0.25f);
        foreach (int t in new[] { 0, 0, 0, 1 }) penalty.Accept(t);
        var logits = new float[] { 1, 1, 1 };
        penalty.Apply(logits);
        Assert.Equal([1 - 3 * 0.5f - 0.25f, 1 - 0.5f - 0.25f, 1], logits);
    }

    [Fact]
    public void OnlyTheLastNTokensArePenalized()
    {
        var penalty = new RepetitionPenalty(5, lastN: 3, repeat: 1, frequency: 1, presence: 0);
        foreach (int t in new[] { 4, 4, 0, 1, 2, 1 }) penalty.Accept(t); // window now 1, 2, 1
        var logits = new float[5];
        penalty.Apply(logits);
        Assert.Equal([0, -2, -1, 0, 0], logits);
    }

    [Fact]
    public void AnUnboundedWindowRemembersEveryToken()
    {
        var penalty = new RepetitionPenalty(3, lastN: -1, repeat: 1, frequency: 1, presence: 0);
        for (int i = 0; i < 500; i++) penalty.Accept(i % 2);
        var logits = new float[3];
        penalty.Apply(logits);
        Assert.Equal([-250, -250, 0], logits);
    }
}
