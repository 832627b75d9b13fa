using System.Numerics.Tensors;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// e H eᵀ for a row of weight error e and the Hessian H = 2XᵀX/N of the matrix's inputs: the mean squared change of
/// that row's output over the calibration inputs (times 2), computed without the inputs themselves.
/// </summary>
internal static class QuadraticError
{
    /// <param name="h">(n, n) row-major, symmetric; <paramref name="offset"/> and <paramref name="stride"/> pick an n x n block of a larger matrix.</param>
    public static double Of(ReadOnlySpan<float> e, ReadOnlySpan<float> h, int offset = 0, int stride = -1)
    {
        int n = e.Length;
        if (stride < 0) stride = n;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            if (e[i] == 0) continue;
            sum += e[i] * (double)TensorPrimitives.Dot(h.Slice(offset + i * stride, n), e);
        }
        return sum;
    }

    /// <summary>
    /// e H eᵀ for e = w - ŵ, and its gradient with respect to the approximation ŵ, -2 H e (H symmetric), written to
    /// <paramref name="gradient"/>: the reconstruction loss the trained recipes descend.
    /// </summary>
    /// <param name="error">Scratch of n values; holds e afterwards.</param>
    public static double WithGradient(ReadOnlySpan<float> w, ReadOnlySpan<float> approximation, ReadOnlySpan<float> h, Span<float> error, Span<float> gradient)
    {
        int n = w.Length;
        error = error.Slice(0, n);
        TensorPrimitives.Subtract(w, approximation.Slice(0, n), error);
        double sum = 0;
        for (int j = 0; j < n; j++)
        {
            float he = TensorPrimitives.Dot(h.Slice(j * n, n), error);
            gradient[j] = -2 * he;
            sum += error[j] * (double)he;
        }
        return sum;
    }

    /// <summary>The Hessian in float, for the many products of a search.</summary>
    public static float[] ToFloat(ReadOnlySpan<double> h)
    {
        var result = new float[h.Length];
        for (int i = 0; i < h.Length; i++) result[i] = (float)h[i];
        return result;
    }
}
