namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Chooses a group's scale (and zero point) for GPTQ by what GPTQ will make of it: for each candidate clipping of the
/// group's range, the group's columns are run through GPTQ's own column loop on a copy of the row (each column
/// rounded, its error spread over the group's later columns by U), and the candidate whose sum of (error / U[i,i])²
/// is smallest wins. That sum is the group's exact share of the row's output error under the dampened Hessian,
/// given the weights as they stand at the group's first column, so the choice sees the Hessian and the spreading,
/// where MinimizeError's rule (smallest squared error of the weights, each rounded alone) sees neither.
/// </summary>
internal static class GptqClipSearch
{
    /// <summary>
    /// Fractions of the group's range tried, the full range first: a finer and deeper grid than MinimizeError's,
    /// because the spreading lets GPTQ absorb more of the error a clipped outlier leaves.
    /// </summary>
    public static ReadOnlySpan<float> Shrinks => [1f, 0.98f, 0.96f, 0.94f, 0.92f, 0.90f, 0.88f, 0.86f, 0.84f, 0.82f, 0.80f, 0.78f, 0.76f, 0.74f, 0.72f, 0.70f, 0.67f, 0.64f, 0.61f, 0.58f, 0.55f];

    /// <summary>The scale and zero point for the group whose values (as they stand) are <paramref name="group"/>.</summary>
    /// <param name="u">U, (columns, columns) row-major, in the order the columns are quantized.</param>
    /// <param name="first">The group's first column (in that order).</param>
    /// <param name="scratch">At least the group's length.</param>
    public static (float Scale, byte Zero) Choose(ReadOnlySpan<float> group, ReadOnlySpan<float> u, int columns, int first, bool asymmetric, Span<float> scratch)
    {
        (float, byte) best = default;
        double bestLoss = double.PositiveInfinity;
        foreach (float shrink in Shrinks)
        {
            var candidate = Grid(group, shrink, asymmetric);
            double loss = Loss(group, candidate.Scale, candidate.Zero, u, columns, first, scratch, bestLoss);
            if (loss < bestLoss) (best, bestLoss) = (candidate, loss);
        }
        return best;
    }

    /// <summary>
    /// The grid of the range clipped to <paramref name="shrink"/>: symmetric as ggml's Q4_0 (the largest magnitude at
    /// -8 steps), with zero points min..max (0 included) over 0..15; the scale rounded to FP16 as it is stored.
    /// </summary>
    public static (float Scale, byte Zero) Grid(ReadOnlySpan<float> group, float shrink, bool asymmetric)
    {
        if (!asymmetric)
        {
            float max = 0, absMax = 0;
            foreach (float v in group)
                if (MathF.Abs(v) > absMax) (absMax, max) = (MathF.Abs(v), v);
            return ((float)(Half)(max * shrink / -8f), 8);
        }
        float min = 0, top = 0;
        foreach (float v in group) (min, top) = (MathF.Min(min, v), MathF.Max(top, v));
        float scale = (float)(Half)((top - min) * shrink / 15f);
        if (scale == 0) return (0, 8);
        return (scale, (byte)Math.Clamp((int)MathF.Round(-min * shrink / scale), 0, 15));
    }

    /// <summary>Σ (error / U[j,j])² over the group's columns, GPTQ run on a copy; stops early once above <paramref name="bound"/>.</summary>
    private static double Loss(ReadOnlySpan<float> group, float scale, byte zero, ReadOnlySpan<float> u, int columns, int first, Span<float> scratch, double bound)
    {
        var w = scratch.Slice(0, group.Length);
        group.CopyTo(w);
        double loss = 0;
        for (int j = 0; j < w.Length; j++)
        {
            var uj = u.Slice((first + j) * columns + first, w.Length);
            float error = (w[j] - (GptqQuantizer.Code(w[j], scale, zero) - zero) * scale) / uj[j];
            loss += (double)error * error;
            if (loss >= bound) return loss;
            ScaledSubtraction.Apply(w.Slice(j + 1), error, uj.Slice(j + 1));
        }
        return loss;
    }
}
