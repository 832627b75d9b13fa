using LlmCpu.Engine.Runtime;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class TokenScorerTests
{
    /// <summary>The textbook definitions, in double, one term at a time.</summary>
    private static (double Nll, double Kl, int Top) Reference(float[] logits, float[] reference, int next)
    {
        double[] LogSoftmax(float[] x)
        {
            double max = x.Max();
            double logZ = max + Math.Log(x.Sum(v => Math.Exp(v - max)));
            return x.Select(v => v - logZ).ToArray();
        }
        double[] logQ = LogSoftmax(logits), logP = LogSoftmax(reference);
        double kl = logP.Select((lp, i) => Math.Exp(lp) * (lp - logQ[i])).Sum();
        return (-logQ[next], kl, Array.IndexOf(logits, logits.Max()));
    }

    [Theory]
    [InlineData(50, 0.0f, 0.0f)]     // small vocabulary, logits near zero
    [InlineData(4096, 40f, 0.01f)]   // large logits, a small perturbation: KL of the order of a quantized model's
    [InlineData(4099, -30f, 0.5f)]   // a vocabulary that is no multiple of a vector, a large perturbation
    public void MatchesTheDefinitions(int vocabulary, float offset, float perturbation)
    {
        var random = new Random(vocabulary);
        var reference = Enumerable.Range(0, vocabulary).Select(_ => offset + 4 * (float)random.NextDouble() - 2).ToArray();
        var logits = reference.Select(v => v + 2 * perturbation * ((float)random.NextDouble() - 0.5f) + 3f).ToArray();
        int next = vocabulary / 3;
        var scorer = new TokenScorer(vocabulary);

        var score = scorer.Score(logits, reference, next);
        var expected = Reference(logits, reference, next);
        Assert.Equal(expected.Nll, score.NegativeLogLikelihood, 1e-5);
        Assert.Equal(Reference(reference, reference, next).Nll, score.ReferenceNegativeLogLikelihood, 1e-5);
        Assert.Equal(expected.Kl, score.KlDivergence, Math.Max(1e-9, expected.Kl * 1e-4));
        Assert.Equal(Math.Exp(-expected.Nll) - Math.Exp(-score.ReferenceNegativeLogLikelihood), score.ProbabilityDelta, 1e-9);
        Assert.Equal(expected.Top == Array.IndexOf(reference, reference.Max()), score.SameTopToken);
        Assert.Equal(expected.Nll, scorer.Score(logits, next).NegativeLogLikelihood, 1e-5);
    }

    [Fact]
    public void AModelAgainstItselfDivergesByNothing()
    {
        var random = new Random(3);
        var logits = Enumerable.Range(0, 1000).Select(_ => 10 * (float)random.NextDouble()).ToArray();
        var score = new TokenScorer(logits.Length).Score(logits, logits, 7);
        Assert.Equal(0, score.KlDivergence, 1e-12);
        Assert.Equal(0, score.ProbabilityDelta);
        Assert.True(score.SameTopToken);
    }

    [Fact]
    public void TheTopTokenIsTheFirstOfEqualMaxima()
    {
        float[] logits = [1, 5, 5, 0], reference = [1, 4, 5, 0];
        Assert.False(new TokenScorer(4).Score(logits, reference, 0).SameTopToken);
        Assert.True(new TokenScorer(4).Score(logits, [1, 5, 4, 0], 0).SameTopToken);
    }
}
