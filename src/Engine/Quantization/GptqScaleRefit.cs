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

    /// <summary>Floats of scratch <see cref="Apply"/> needs for <paramref name="rows"/> rows of <paramref name="n"/> columns.</summary>
    public static int ScratchLength(int rows, int n, int groupSize) => rows * n + 3 * rows * groupSize;

    /// <summary>Refits the scales of a tile of rows, which share H: the products with H are then taken for all of them at once.</summary>
    /// <param name="original">The rows' weights before quantization, (rows, n).</param>
    /// <param name="codes">The rows' codes, (rows, groups x <paramref name="groupSize"/>) (padded).</param>
    /// <param name="scales">The rows' scales, (rows, groups); updated.</param>
    /// <param name="zeros">The rows' zero points, (rows, groups).</param>
    /// <param name="h">(n, n) row-major, symmetric.</param>
    /// <param name="scratch">At least <see cref="ScratchLength"/>.</param>
    /// <remarks>
    /// A group's step needs (H e) on the group only, with e as the steps before it left it: that is taken when the
    /// group is reached, for all the tile's rows at once, as the product (rows, n) x (n, group) of the errors with H's
    /// columns of the group (<see cref="OrderedBlockUpdate"/>, each element of H read once for the tile). A pass thus
    /// costs one n x n product per row, and no product with all of H is needed before the first.
    /// </remarks>
    public static unsafe void Apply(ReadOnlySpan<float> original, int rows, ReadOnlySpan<byte> codes, Span<float> scales, ReadOnlySpan<byte> zeros,
        int groupSize, ReadOnlySpan<float> h, Span<float> scratch)
    {
        int groups = scales.Length / rows, n = original.Length / rows, padded = groups * groupSize;
        if (scratch.Length < ScratchLength(rows, n, groupSize)) throw new ArgumentException("The scratch is shorter than ScratchLength.", nameof(scratch));
        if (h.Length < (long)n * n) throw new ArgumentException("H is n x n.", nameof(h));
        var e = scratch.Slice(0, rows * n);                        // (rows, n)
        var he = scratch.Slice(rows * n, rows * groupSize);        // (rows, group): H e on the group
        var c = scratch.Slice(rows * n + rows * groupSize, rows * groupSize);      // (rows, group): the codes less the zero point
        var hc = scratch.Slice(rows * n + 2 * rows * groupSize, rows * groupSize); // (rows, group): -(H c) on the group
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < groups; g++)
                for (int k = g * groupSize; k < Math.Min(n, (g + 1) * groupSize); k++)
                    e[r * n + k] = original[r * n + k] - (codes[r * padded + k] - zeros[r * groups + g]) * scales[r * groups + g];
        fixed (float* ep = e, hep = he, cp = c, hcp = hc, hp = h)
        {
            for (int pass = 0; pass < Passes; pass++)
            {
                for (int g = 0; g < groups; g++)
                {
                    int g0 = g * groupSize, length = Math.Min(groupSize, n - g0);
                    if (length <= 0) continue;
                    // H e on the group is (E H) on the group's columns, H being symmetric: -(0 - E H[:, group]), since
                    // the product subtracts, and negating is exact.
                    he.Clear();
                    OrderedBlockUpdate.Subtract(hep, groupSize, ep, n, hp + g0, n, rows, n, length);
                    // -(H c) on the group the same way, from H's diagonal block of the group: cᵀHc needs no more.
                    for (int r = 0; r < rows; r++)
                        for (int k = 0; k < length; k++) c[r * groupSize + k] = codes[r * padded + g0 + k] - zeros[r * groups + g];
                    hc.Clear();
                    OrderedBlockUpdate.Subtract(hcp, groupSize, cp, groupSize, hp + (long)g0 * n + g0, n, rows, length, length);
                    for (int r = 0; r < rows; r++)
                    {
                        ref float scale = ref scales[r * groups + g];
                        if (scale == 0) continue;
                        var cr = c.Slice(r * groupSize, length);
                        double a = -TensorPrimitives.Dot(cr, he.Slice(r * groupSize, length));
                        double b = -TensorPrimitives.Dot(cr, hc.Slice(r * groupSize, length));
                        if (!(b > 0)) continue;
                        float refitted = (float)(Half)(scale + a / b);
                        double delta = refitted - scale;
                        // e loses delta · c on the group, so the loss changes by -2 delta cᵀHe + delta² cᵀHc.
                        double change = -2 * delta * a + delta * delta * b;
                        if (!(change < 0) || !float.IsFinite(refitted)) continue;
                        scale = refitted;
                        for (int k = 0; k < length; k++) e[r * n + g0 + k] -= (float)delta * cr[k];
                    }
                }
            }
        }
    }
}
