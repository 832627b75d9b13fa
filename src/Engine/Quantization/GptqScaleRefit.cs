using System.Numerics.Tensors;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// After GPTQ has chosen a row's codes, moves each group's scale to the value that minimizes the row's output error
/// e H eᵀ (e = original weights - dequantized) with the codes, zero points and other groups' scales held: the loss is
/// a parabola in the scale, so the step is (cᵀ H e) / (cᵀ H c) for the group's codes c = q - z. GPTQ chose each scale
/// before the group's columns were rounded and their errors spread; once the codes are known, the scale that fits
/// them best is usually a little different. A step is kept only if it lowers the loss with the scale rounded to
/// FP16 as it is stored, so the row's loss never rises.
/// </summary>
internal static class GptqScaleRefit
{
    /// <summary>Passes over the groups: the groups share H, so moving one changes the best scale of the others.</summary>
    public const int Passes = 2;

    /// <param name="original">The row's weights before quantization (n).</param>
    /// <param name="codes">The row's codes, groups of <paramref name="groupSize"/> (padded).</param>
    /// <param name="scales">The row's scale per group; updated.</param>
    /// <param name="h">(n, n) row-major, symmetric.</param>
    /// <param name="scratch">At least 3n + groupSize.</param>
    /// <returns>The row's loss e H eᵀ before and after.</returns>
    public static (double Before, double After) Apply(ReadOnlySpan<float> original, ReadOnlySpan<byte> codes, Span<float> scales, ReadOnlySpan<byte> zeros,
        int groupSize, ReadOnlySpan<float> h, Span<float> scratch)
    {
        int n = original.Length, groups = scales.Length;
        var e = scratch.Slice(0, n);
        var he = scratch.Slice(n, n);
        var hc = scratch.Slice(2 * n, n);
        var c = scratch.Slice(3 * n, groupSize);
        for (int g = 0; g < groups; g++)
            for (int k = g * groupSize; k < Math.Min(n, (g + 1) * groupSize); k++)
                e[k] = original[k] - (codes[k] - zeros[g]) * scales[g];
        for (int i = 0; i < n; i++) he[i] = TensorPrimitives.Dot(h.Slice(i * n, n), e);
        double before = TensorPrimitives.Dot(e, he), after = before;
        for (int pass = 0; pass < Passes; pass++)
        {
            for (int g = 0; g < groups; g++)
            {
                int g0 = g * groupSize, length = Math.Min(groupSize, n - g0);
                if (length <= 0 || scales[g] == 0) continue;
                for (int k = 0; k < length; k++) c[k] = codes[g0 + k] - zeros[g];
                // H c: column k of H is row k (H symmetric).
                hc.Clear();
                for (int k = 0; k < length; k++)
                    if (c[k] != 0) TensorPrimitives.MultiplyAdd(h.Slice((g0 + k) * n, n), c[k], hc, hc);
                double a = TensorPrimitives.Dot(c.Slice(0, length), he.Slice(g0, length));
                double b = TensorPrimitives.Dot(c.Slice(0, length), hc.Slice(g0, length));
                if (!(b > 0)) continue;
                float scale = (float)(Half)(scales[g] + a / b);
                double step = scale - scales[g];
                // e loses step · c on the group, so the loss changes by -2 step cᵀHe + step² cᵀHc.
                double change = -2 * step * a + step * step * b;
                if (!(change < 0) || !float.IsFinite(scale)) continue;
                scales[g] = scale;
                for (int k = 0; k < length; k++) e[g0 + k] -= (float)step * c[k];
                TensorPrimitives.MultiplyAdd(hc, (float)-step, he, he);
                after += change;
            }
        }
        return (before, after);
    }
}
