using System.Numerics.Tensors;

namespace LlmCpu.Kernels.Ops;

/// <summary>
/// Softmax that subtracts the maximum before exponentiating. <see cref="TensorPrimitives.SoftMax(ReadOnlySpan{float}, Span{float})"/>
/// does not, so any value above about 88 overflows exp to infinity and the result becomes NaN; attention scores and
/// logits of real models (and logits divided by a low temperature) reach that range.
/// </summary>
public static class Softmax
{
    /// <summary>
    /// destination[i] = exp(x[i] - max) / sum_j exp(x[j] - max). <paramref name="destination"/> may alias <paramref name="x"/>.
    /// Returns the maximum. Every finite input gives a finite distribution that sums to 1 within rounding.
    /// </summary>
    public static float Apply(ReadOnlySpan<float> x, Span<float> destination)
    {
        if (x.IsEmpty) return float.NegativeInfinity;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, destination);
        TensorPrimitives.Exp(destination, destination);
        // The largest term is exp(0) = 1, so the sum is at least 1: no division by zero or by a denormal.
        float sum = TensorPrimitives.Sum(destination);
        TensorPrimitives.Divide(destination, sum, destination);
        return max;
    }
}
