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

    /// <summary>Sub-blocks of the group's columns whose errors reach the group's later columns in one product.</summary>
    private const int Block = 16;

    /// <summary>Floats of scratch <see cref="Choose"/> needs for a group of <paramref name="groupSize"/>.</summary>
    public static int ScratchLength(int groupSize) => Shrinks.Length * (groupSize + Block);

    /// <summary>The scale and zero point for the group whose values (as they stand) are <paramref name="group"/>.</summary>
    /// <param name="u">U, (columns, columns) row-major, in the order the columns are quantized.</param>
    /// <param name="first">The group's first column (in that order).</param>
    /// <param name="scratch">At least <see cref="ScratchLength"/> of the group's length.</param>
    /// <remarks>
    /// Every candidate runs GPTQ's column loop on its own copy of the group, all at once: column j of every copy is
    /// rounded, and its scaled error goes to the copies' later columns of the same sub-block of <see cref="Block"/>
    /// columns one column at a time, then to the columns after the sub-block in one product
    /// (<see cref="OrderedBlockUpdate"/>, which brings each element its terms in column order, each rounded as
    /// <see cref="ScaledSubtraction"/> rounds them). So every copy's values, errors and loss are bit for bit those of
    /// a column-at-a-time loop over that candidate alone, and the first candidate of least loss wins.
    /// </remarks>
    public static unsafe (float Scale, byte Zero) Choose(ReadOnlySpan<float> group, ReadOnlySpan<float> u, int columns, int first, bool asymmetric, Span<float> scratch)
    {
        int count = Shrinks.Length, length = group.Length;
        if (scratch.Length < count * (length + Block)) throw new ArgumentException("The scratch is shorter than ScratchLength.", nameof(scratch));
        if (u.Length < (long)(first + length) * columns) throw new ArgumentException("U is shorter than its columns' rows.", nameof(u));
        Span<float> scales = stackalloc float[count];
        Span<byte> zeros = stackalloc byte[count];
        Span<double> losses = stackalloc double[count];
        for (int c = 0; c < count; c++)
        {
            (scales[c], zeros[c]) = Grid(group, Shrinks[c], asymmetric);
            group.CopyTo(scratch.Slice(c * length, length));
            losses[c] = 0;
        }
        fixed (float* copies = scratch, up = u)
        {
            float* errors = copies + count * length;  // (count, Block)
            for (int j0 = 0; j0 < length; j0 += Block)
            {
                int j1 = Math.Min(length, j0 + Block);
                for (int j = j0; j < j1; j++)
                {
                    var uj = u.Slice((first + j) * columns + first, length);
                    float d = uj[j];
                    for (int c = 0; c < count; c++)
                    {
                        var w = scratch.Slice(c * length, length);
                        float error = (w[j] - (GptqQuantizer.Code(w[j], scales[c], zeros[c]) - zeros[c]) * scales[c]) / d;
                        losses[c] += (double)error * error;
                        errors[c * Block + j - j0] = error;
                        ScaledSubtraction.Apply(w.Slice(j + 1, j1 - j - 1), error, uj.Slice(j + 1));
                    }
                }
                if (j1 < length)
                    OrderedBlockUpdate.Subtract(copies + j1, length, errors, Block, up + (long)(first + j0) * columns + first + j1, columns, count, j1 - j0, length - j1);
            }
        }
        (float, byte) best = default;
        double bestLoss = double.PositiveInfinity;
        for (int c = 0; c < count; c++)
            if (losses[c] < bestLoss) (best, bestLoss) = ((scales[c], zeros[c]), losses[c]);
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
}
