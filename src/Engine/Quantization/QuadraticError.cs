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
    /// e H eᵀ for each row's e = w - ŵ, added to <paramref name="losses"/>, and its gradient with respect to the
    /// approximation ŵ, -2 H e (H symmetric), written to <paramref name="gradient"/>: the reconstruction loss the
    /// trained recipes descend. The rows go together through one pass over H, so that each row of H, once loaded,
    /// serves all of them (H of a feed-forward input is larger than a core's cache; the rows' errors are not).
    /// </summary>
    /// <param name="w">(rows, n) row-major, as are <paramref name="approximation"/>, <paramref name="error"/> and <paramref name="gradient"/>.</param>
    /// <param name="error">Scratch; holds e afterwards.</param>
    public static void WithGradient(ReadOnlySpan<float> w, ReadOnlySpan<float> approximation, int rows, ReadOnlySpan<float> h, Span<float> error,
        Span<float> gradient, Span<double> losses)
    {
        int n = h.Length == 0 ? 0 : (int)Math.Sqrt(h.Length);
        if ((long)n * n != h.Length || w.Length < rows * n) throw new ArgumentException("H is n x n for rows of n weights.", nameof(h));
        TensorPrimitives.Subtract(w.Slice(0, rows * n), approximation.Slice(0, rows * n), error.Slice(0, rows * n));
        for (int j = 0; j < n; j++)
        {
            var hj = h.Slice(j * n, n);
            for (int r = 0; r < rows; r++)
            {
                float he = TensorPrimitives.Dot(hj, error.Slice(r * n, n));
                gradient[r * n + j] = -2 * he;
                losses[r] += error[r * n + j] * (double)he;
            }
        }
    }

    /// <summary>The Hessian in float, for the many products of a search.</summary>
    public static float[] ToFloat(ReadOnlySpan<double> h)
    {
        var result = new float[h.Length];
        for (int i = 0; i < h.Length; i++) result[i] = (float)h[i];
        return result;
    }
}
