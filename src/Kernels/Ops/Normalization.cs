using System.Numerics.Tensors;

namespace LlmCpu.Kernels.Ops;

public static class Normalization
{
    /// <summary>RMSNorm: output = x / sqrt(mean(x^2) + eps) * weight. <paramref name="output"/> may alias <paramref name="x"/>.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> output, float eps)
    {
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float scale = 1f / MathF.Sqrt(meanSquare + eps);
        TensorPrimitives.Multiply(x, scale, output);
        TensorPrimitives.Multiply(output, weight, output);
    }

    /// <summary>
    /// LayerNorm: output = (x - mean) / sqrt(var + eps) * weight + bias, the variance taken about the mean (biased, as
    /// torch's layer_norm). <paramref name="bias"/> may be empty; <paramref name="output"/> may alias <paramref name="x"/>.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> output, float eps)
    {
        float mean = TensorPrimitives.Sum(x) / x.Length;
        TensorPrimitives.Subtract(x, mean, output);
        float variance = TensorPrimitives.SumOfSquares(output) / x.Length;
        TensorPrimitives.Multiply(output, 1f / MathF.Sqrt(variance + eps), output);
        TensorPrimitives.Multiply(output, weight, output);
        if (!bias.IsEmpty) TensorPrimitives.Add(output, bias, output);
    }
}
