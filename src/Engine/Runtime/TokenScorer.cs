using System.Numerics.Tensors;

namespace LlmCpu.Engine.Runtime;

/// <summary>What one scored position contributes: the model's surprise at the token that came, and with a reference
/// model, how far the two next-token distributions lie apart.</summary>
internal readonly record struct PositionScore(double NegativeLogLikelihood, double ReferenceNegativeLogLikelihood,
    double KlDivergence, double ProbabilityDelta, bool SameTopToken);

/// <summary>
/// Scores one position from its logits: negative log-likelihood of the next token, and against a reference model's
/// logits the KL divergence KL(reference || model), the change in the next token's probability, and whether both rank
/// the same token first. Works in double over the whole vocabulary, in scratch rows allocated once per evaluation.
/// </summary>
/// <remarks>
/// llama-perplexity's KL mode reads the reference's log-probabilities back from a file that stores them in 16 bits
/// over the 16 nats below the top logit; tokens further down share the floor, and KL terms below it are skipped. Here
/// the reference's logits are at hand, so every quantity is computed from them exactly; where the two differ is
/// described in docs/quantization.md.
/// </remarks>
internal sealed class TokenScorer(int vocabulary)
{
    private readonly float[] _exps = new float[vocabulary];
    private readonly float[] _referenceExps = new float[vocabulary];

    public PositionScore Score(ReadOnlySpan<float> logits, int next)
    {
        double logNormalizer = LogSumExp(logits, _exps, out _, out _);
        return new PositionScore(logNormalizer - logits[next], double.NaN, double.NaN, double.NaN, false);
    }

    public PositionScore Score(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, int next)
    {
        double logNormalizer = LogSumExp(logits, _exps, out int top, out _);
        double referenceLogNormalizer = LogSumExp(reference, _referenceExps, out int referenceTop, out double referenceSum);
        double nll = logNormalizer - logits[next];
        double referenceNll = referenceLogNormalizer - reference[next];

        // KL(P || Q) = sum_i p_i (log p_i - log q_i), with log p_i - log q_i = (r_i - l_i) - (logZ_P - logZ_Q). The
        // logits' difference is taken first, in double, so the sum does not cancel two large numbers into a small one.
        double offset = referenceLogNormalizer - logNormalizer;
        double divergence = 0;
        for (int i = 0; i < reference.Length; i++)
            divergence += _referenceExps[i] * ((double)reference[i] - logits[i] - offset);
        divergence /= referenceSum;

        return new PositionScore(nll, referenceNll, divergence, Math.Exp(-nll) - Math.Exp(-referenceNll), top == referenceTop);
    }

    /// <summary>
    /// log sum_i exp(logits_i), computed as max + log sum_i exp(logits_i - max); leaves exp(logits_i - max) in
    /// <paramref name="exps"/> and their sum in <paramref name="sum"/>. <paramref name="top"/> is the first index of
    /// the largest logit, as llama-perplexity picks it.
    /// </summary>
    private static double LogSumExp(ReadOnlySpan<float> logits, Span<float> exps, out int top, out double sum)
    {
        top = TensorPrimitives.IndexOfMax(logits);
        float max = logits[top];
        TensorPrimitives.Subtract(logits, max, exps);
        TensorPrimitives.Exp(exps, exps);
        sum = 0;
        foreach (float e in exps) sum += e;
        return max + Math.Log(sum);
    }
}
