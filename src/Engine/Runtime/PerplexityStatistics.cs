namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Running sums over scored positions and the figures llama-perplexity derives from them: perplexity and its standard
/// error, and against a reference the mean, median, 99th percentile and maximum KL divergence, the perplexity ratio,
/// the RMS change of the next token's probability and the same-top-token rate. Holds one KL value per position (for
/// the percentiles), allocated up front.
/// </summary>
internal sealed class PerplexityStatistics(int capacity, bool withReference)
{
    private readonly double[] _klValues = withReference ? new double[capacity] : [];
    private double _nll, _nll2, _referenceNll, _kl, _kl2, _probabilityDelta, _probabilityDelta2;
    private int _sameTop;

    public int Count { get; private set; }

    public void Add(in PositionScore score)
    {
        _nll += score.NegativeLogLikelihood;
        _nll2 += score.NegativeLogLikelihood * score.NegativeLogLikelihood;
        if (withReference)
        {
            _referenceNll += score.ReferenceNegativeLogLikelihood;
            _kl += score.KlDivergence;
            _kl2 += score.KlDivergence * score.KlDivergence;
            _klValues[Count] = score.KlDivergence;
            _probabilityDelta += score.ProbabilityDelta;
            _probabilityDelta2 += score.ProbabilityDelta * score.ProbabilityDelta;
            if (score.SameTopToken) _sameTop++;
        }
        Count++;
    }

    /// <summary>exp(mean negative log-likelihood).</summary>
    public double Perplexity => Math.Exp(_nll / Count);

    /// <summary>
    /// llama-perplexity's "+/-": the standard error of the mean log-likelihood, sqrt(variance / (n - 1)), carried to the
    /// perplexity by the derivative of exp (times the perplexity). 0 for fewer than two positions.
    /// </summary>
    public double StandardError => Perplexity * StandardErrorOfMean(_nll, _nll2, Count);

    public double ReferencePerplexity => Math.Exp(_referenceNll / Count);

    /// <summary>exp(mean(ln p_ref(next)) - mean(ln p(next))): the model's perplexity over the reference's.</summary>
    public double PerplexityRatio => Math.Exp((_nll - _referenceNll) / Count);

    public double KlDivergence => _kl / Count;

    public double KlDivergenceStandardError => StandardErrorOfMean(_kl, _kl2, Count);

    public double RmsProbabilityDelta => Math.Sqrt(_probabilityDelta2 / Count);

    public double MeanProbabilityDelta => _probabilityDelta / Count;

    public double SameTopTokenRate => (double)_sameTop / Count;

    /// <summary>Median, 99th percentile and maximum of the per-position KL divergences (sorts them; call once, at the end).</summary>
    public (double Median, double P99, double Maximum) KlDivergenceQuantiles()
    {
        var values = _klValues.AsSpan(0, Count);
        values.Sort();
        double median = Count % 2 == 0 ? 0.5 * (values[Count / 2 - 1] + values[Count / 2]) : values[Count / 2];
        return (median, Percentile(values, 0.99), values[^1]);
    }

    /// <summary>llama-perplexity's percentile of sorted values: linear between the two nearest of fraction * (n - 1).</summary>
    internal static double Percentile(ReadOnlySpan<double> sorted, double fraction)
    {
        if (fraction <= 0) return sorted[0];
        if (fraction >= 1) return sorted[^1];
        double p = fraction * (sorted.Length - 1);
        int i = (int)p;
        p -= i;
        return (1 - p) * sorted[i] + p * sorted[Math.Min(i + 1, sorted.Length - 1)];
    }

    private static double StandardErrorOfMean(double sum, double sumOfSquares, int count)
    {
        if (count < 2) return 0;
        double mean = sum / count;
        double variance = sumOfSquares / count - mean * mean;
        return variance > 0 ? Math.Sqrt(variance / (count - 1)) : 0;
    }
}
