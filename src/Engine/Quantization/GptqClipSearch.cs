using System.Runtime.Intrinsics;

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

    /// <summary>What a tile's searches work in, made once per tile of rows.</summary>
    public sealed class Workspace(int rows, int groupSize)
    {
        public readonly int Rows = rows;
        internal readonly float[] Copies = new float[groupSize * rows * Shrinks.Length];  // (column, lane): every candidate's copy of every row's group
        internal readonly float[] Errors = new float[Block * rows * Shrinks.Length];      // (column of the sub-block, lane)
        internal readonly float[] Spread = new float[groupSize * Block];                  // U's rows of the sub-block, transposed: (later column, column of the sub-block)
        internal readonly float[] Scales = new float[rows * Shrinks.Length];
        internal readonly float[] Zeros = new float[rows * Shrinks.Length];
        internal readonly double[] Losses = new double[rows * Shrinks.Length];
    }

    /// <summary>
    /// The scale and zero point of one group in each of a tile's rows, whose values (as they stand) are
    /// <paramref name="rows"/> rows of <paramref name="length"/> values at stride <paramref name="stride"/>.
    /// </summary>
    /// <param name="u">U, (columns, columns) row-major, in the order the columns are quantized.</param>
    /// <param name="first">The group's first column (in that order).</param>
    /// <remarks>
    /// Every candidate of every row (a lane) runs GPTQ's column loop on its own copy of the group, all lanes at once:
    /// column j of every copy is rounded (as <see cref="GptqQuantizer.Code"/> rounds, in vectors across the lanes), and
    /// its scaled error goes to the later columns of the same sub-block of <see cref="Block"/> columns one column at a
    /// time, then to the columns after the sub-block in one product (<see cref="OrderedBlockUpdate"/>, which brings each
    /// element its terms in column order, each product rounded as <see cref="ScaledSubtraction"/> rounds it). So every
    /// lane's values, errors and loss are bit for bit those of a column-at-a-time loop over that candidate alone, and
    /// each row's first candidate of least loss wins. The rows share U's rows of the group, read once for the tile.
    /// </remarks>
    public static unsafe void Choose(ReadOnlySpan<float> values, int stride, int rows, int length, ReadOnlySpan<float> u, int columns, int first, bool asymmetric,
        Span<float> scales, Span<byte> zeros, Workspace work)
    {
        int count = Shrinks.Length, lanes = rows * count;
        if (rows > work.Rows || length * lanes > work.Copies.Length) throw new ArgumentException("The workspace is smaller than the tile.", nameof(work));
        if (u.Length < (long)(first + length) * columns) throw new ArgumentException("U is shorter than its columns' rows.", nameof(u));
        for (int r = 0; r < rows; r++)
        {
            var group = values.Slice(r * stride, length);
            for (int c = 0; c < count; c++)
            {
                var (scale, zero) = Grid(group, Shrinks[c], asymmetric);
                work.Scales[r * count + c] = scale;
                work.Zeros[r * count + c] = zero;
                work.Losses[r * count + c] = 0;
                for (int m = 0; m < length; m++) work.Copies[m * lanes + r * count + c] = group[m];
            }
        }
        fixed (float* copies = work.Copies, errors = work.Errors, spread = work.Spread, laneScales = work.Scales, laneZeros = work.Zeros, up = u)
        fixed (double* losses = work.Losses)
        {
            for (int j0 = 0; j0 < length; j0 += Block)
            {
                int j1 = Math.Min(length, j0 + Block);
                for (int j = j0; j < j1; j++)
                    Column(copies, lanes, j, j1, up + (long)(first + j) * columns + first, laneScales, laneZeros, losses, errors + (j - j0) * lanes);
                if (j1 == length) continue;
                for (int m = j1; m < length; m++)
                    for (int k = j0; k < j1; k++) spread[(m - j1) * Block + k - j0] = up[(long)(first + k) * columns + first + m];
                OrderedBlockUpdate.Subtract(copies + (long)j1 * lanes, lanes, spread, Block, errors, lanes, length - j1, j1 - j0, lanes);
            }
        }
        for (int r = 0; r < rows; r++)
        {
            (float, byte) best = default;
            double bestLoss = double.PositiveInfinity;
            for (int c = 0; c < count; c++)
                if (work.Losses[r * count + c] < bestLoss) (best, bestLoss) = ((work.Scales[r * count + c], (byte)work.Zeros[r * count + c]), work.Losses[r * count + c]);
            (scales[r], zeros[r]) = best;
        }
    }

    /// <summary>
    /// Column j of every lane: rounded to its candidate's grid, the scaled error (value - dequantized) / U[j,j] kept and
    /// its square added to the lane's loss, and the error spread over the columns (j, j1) by U's row j.
    /// </summary>
    /// <remarks>
    /// The code is GptqQuantizer.Code's, computed in float: clamp(round(value · (1 / scale)) + zero, 0, 15), the zero
    /// point where the scale is 0. Rounding an integer-valued float and adding a zero point of 0..15 is exact below
    /// 2²⁴ steps, so the codes are the same (a value 2²⁴ steps or more past the grid clamps to the same end either way).
    /// </remarks>
    private static unsafe void Column(float* copies, int lanes, int j, int j1, float* uRow, float* laneScales, float* laneZeros, double* losses, float* errors)
    {
        float d = uRow[j];
        float* row = copies + (long)j * lanes;
        int l = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; l + 16 <= lanes; l += 16)
            {
                var w = Vector512.Load(row + l);
                var scale = Vector512.Load(laneScales + l);
                var zero = Vector512.Load(laneZeros + l);
                var code = Vector512.Clamp(Vector512.Round(w * (Vector512<float>.One / scale)) + zero, Vector512<float>.Zero, Vector512.Create(15f));
                code = Vector512.ConditionalSelect(Vector512.Equals(scale, Vector512<float>.Zero), zero, code);
                var error = (w - (code - zero) * scale) / Vector512.Create(d);
                error.Store(errors + l);
                var (lower, upper) = Vector512.Widen(error);
                (Vector512.Load(losses + l) + lower * lower).Store(losses + l);
                (Vector512.Load(losses + l + 8) + upper * upper).Store(losses + l + 8);
                for (int m = j + 1; m < j1; m++)
                {
                    float* target = copies + (long)m * lanes + l;
                    (Vector512.Load(target) - error * Vector512.Create(uRow[m])).Store(target);
                }
            }
        }
        for (; l < lanes; l++)
        {
            float w = row[l], scale = laneScales[l], zero = laneZeros[l];
            float code = scale == 0 ? zero : Math.Clamp(MathF.Round(w * (1f / scale)) + zero, 0f, 15f);
            float error = (w - (code - zero) * scale) / d;
            errors[l] = error;
            losses[l] += (double)error * error;
            for (int m = j + 1; m < j1; m++)
            {
                float product = error * uRow[m];
                copies[(long)m * lanes + l] -= product;
            }
        }
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
