using System.Numerics.Tensors;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// The model's probability for a sampled token and the n most likely tokens at its position, from the raw logits
/// (softmax at temperature 1, shifted by the maximum), as llama-server reports n_probs by default. Working arrays are
/// allocated once; only the reported objects are new per token.
/// </summary>
internal sealed class TokenProbabilities(int vocabularySize, int topCount, TokenTextTable table)
{
    private readonly float[] _exp = new float[vocabularySize];
    private readonly float[] _topLogits = new float[Math.Max(topCount, 1)];
    private readonly int[] _topIds = new int[Math.Max(topCount, 1)];

    public SampledToken Describe(ReadOnlySpan<float> logits, int chosen)
    {
        float max = TensorPrimitives.Max(logits);
        var exp = _exp.AsSpan(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, exp);
        TensorPrimitives.Exp(exp, exp);
        float sum = TensorPrimitives.Sum(exp);

        TokenProbability[] top = [];
        if (topCount > 0)
        {
            int n = TopSelection.Select(logits, topCount, _topLogits, _topIds);
            TopSelection.SortDescending(_topLogits.AsSpan(0, n), _topIds.AsSpan(0, n));
            top = new TokenProbability[n];
            for (int i = 0; i < n; i++) top[i] = new TokenProbability(_topIds[i], table.Text(_topIds[i]), exp[_topIds[i]] / sum);
        }
        return new SampledToken(chosen, table.Text(chosen), exp[chosen] / sum, top);
    }
}
