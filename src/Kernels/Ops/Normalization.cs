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
}
