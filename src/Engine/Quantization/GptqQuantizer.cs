using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>How <see cref="GptqQuantizer"/> runs.</summary>
public sealed record GptqOptions
{
    /// <summary>Added to H's diagonal as a fraction of its mean (the reference's percdamp), so that H is invertible and stable.</summary>
    public double Dampening { get; init; } = 0.01;

    /// <summary>
    /// Columns whose updates to the columns after them are applied at once (lazy batch updates). Any value gives the
    /// same result; it only changes how often the rest of each row is rewritten. A power of two.
    /// </summary>
    public int BlockSize { get; init; } = 128;

    /// <summary>How each group's scale (and zero point) is chosen when its first column is reached: a weight-only recipe.</summary>
    public Int4Recipe ScaleRule { get; init; } = Int4Recipe.MinimizeError;
}

/// <summary>
/// GPTQ (Frantar et al., 2022): quantizes a matrix column by column in the natural order (no activation reordering,
/// so groups stay the contiguous runs of columns the tile layout stores), and after each column subtracts its
/// rounding error, weighted by the upper Cholesky factor U of H⁻¹, from the columns not yet quantized. A group's scale
/// is chosen from the group's weights as they stand when its first column is reached, that is, with the error of
/// every earlier column already folded in. Rows are independent given U, so the pool's threads take tiles of rows.
/// </summary>
public static class GptqQuantizer
{
    /// <param name="weights">(rows, columns) row-major.</param>
    /// <param name="hessian">(columns, columns): 2XᵀX/N of the matrix's calibration inputs.</param>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, ReadOnlySpan<double> hessian, Int4Format format,
        ActivationMode activations, WorkerPool pool, GptqOptions? options = null)
    {
        options ??= new GptqOptions();
        if (weights.Length < (long)rows * columns) throw new ArgumentException("Fewer weights than rows x columns.", nameof(weights));
        if (hessian.Length < (long)columns * columns) throw new ArgumentException("The Hessian is columns x columns.", nameof(hessian));
        if (!options.ScaleRule.IsWeightOnly()) throw new ArgumentException("The scale rule must be a weight-only recipe.", nameof(options));
        if (options.BlockSize < 1 || (options.BlockSize & (options.BlockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.BlockSize, "The block size is a power of two.");

        var w = weights.Slice(0, rows * columns).ToArray();
        var h = hessian.Slice(0, columns * columns).ToArray();
        // A column no calibration input ever touched has no say in the error: quantize it as zero (the reference does the same).
        for (int i = 0; i < columns; i++)
        {
            if (h[(long)i * columns + i] != 0) continue;
            h[(long)i * columns + i] = 1;
            for (int r = 0; r < rows; r++) w[(long)r * columns + i] = 0;
        }
        var u = UpperFactor(h, columns, options.Dampening, pool);

        var target = new Int4Matrix(rows, columns, format with { Recipe = Int4Recipe.Gptq }, activations);
        try
        {
            pool.Run(new RowTiles(w, u, columns, target, options), rows, Int4Matrix.TileRows);
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>U of H + damping, in float for the row updates; the damping grows tenfold until H is positive definite.</summary>
    private static float[] UpperFactor(double[] h, int n, double dampening, WorkerPool pool)
    {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[(long)i * n + i];
        mean /= n;
        for (int attempt = 0; attempt < 6; attempt++, dampening *= 10)
        {
            var damped = (double[])h.Clone();
            for (int i = 0; i < n; i++) damped[(long)i * n + i] += dampening * mean;
            var u = CholeskyInverse.UpperFactorOfInverse(damped, n, pool);
            if (u == null) continue;
            var result = new float[u.Length];
            for (long i = 0; i < u.Length; i++) result[i] = (float)u[i];
            return result;
        }
        throw new InvalidOperationException("The calibration Hessian is not positive definite even with strong dampening.");
    }

    private sealed class RowTiles(float[] w, float[] u, int columns, Int4Matrix target, GptqOptions options) : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            for (int first = begin; first < end; first += Int4Matrix.TileRows) Tile(first, Math.Min(end, first + Int4Matrix.TileRows));
        }

        /// <summary>Rows [first, last) through every column; they share each row of U while it is in cache.</summary>
        private void Tile(int first, int last)
        {
            int tile = last - first, groupSize = target.GroupSize, groups = target.Groups, block = options.BlockSize;
            bool asymmetric = target.Int4Format.Asymmetric;
            var codes = new byte[tile * groups * groupSize];  // (tile, KPadded)
            var scales = new float[tile * groups];
            var zeros = new byte[tile * groups];
            var errors = new float[tile * block];              // (tile, block) this block's scaled errors
            var scratch = new byte[groupSize];
            Span<float> Row(int r) => w.AsSpan((first + r) * columns, columns);
            ReadOnlySpan<float> U(int i) => u.AsSpan(i * columns, columns);

            for (int b0 = 0; b0 < columns; b0 += block)
            {
                int b1 = Math.Min(columns, b0 + block);
                for (int i = b0; i < b1; i++)
                {
                    int g = i / groupSize;
                    float d = U(i)[i];
                    for (int r = 0; r < tile; r++)
                    {
                        var row = Row(r);
                        if (i % groupSize == 0)
                        {
                            var group = row.Slice(i, Math.Min(groupSize, columns - i));
                            var (scale, zero) = Int4Quantizer.Quantize(group, scratch, asymmetric, options.ScaleRule);
                            scales[r * groups + g] = scale;
                            zeros[r * groups + g] = zero;
                        }
                        float s = scales[r * groups + g];
                        byte z = zeros[r * groups + g];
                        byte q = Code(row[i], s, z);
                        codes[r * groups * groupSize + i] = q;
                        float error = (row[i] - (q - z) * s) / d;
                        errors[r * block + i - b0] = error;
                        ScaledSubtraction.Apply(row.Slice(i + 1, b1 - i - 1), error, U(i).Slice(i + 1));
                    }
                }
                // The block's errors reach the columns after it in one pass, column of U by column, in the same order
                // as the unblocked updates would have arrived.
                if (b1 == columns) continue;
                for (int i = b0; i < b1; i++)
                {
                    var tail = U(i).Slice(b1);
                    for (int r = 0; r < tile; r++) ScaledSubtraction.Apply(Row(r).Slice(b1), errors[r * block + i - b0], tail);
                }
            }

            for (int r = 0; r < tile; r++)
            {
                for (int g = 0; g < groups; g++)
                {
                    var group = codes.AsSpan(r * groups * groupSize + g * groupSize, groupSize);
                    int valid = Math.Clamp(columns - g * groupSize, 0, groupSize);
                    group.Slice(valid).Fill(zeros[r * groups + g]);
                    target.SetGroup(first + r, g, (Half)scales[r * groups + g], group, asymmetric ? zeros[r * groups + g] : (byte)8);
                }
            }
        }
    }

    /// <summary>
    /// The code of <paramref name="value"/> with the stored scale and zero point: the nearest point of the grid the
    /// kernel dequantizes with, computed as the asymmetric round-to-nearest rule computes it (so that with nothing to
    /// spread, GPTQ gives that rule's codes exactly), clamped to 0..15.
    /// </summary>
    internal static byte Code(float value, float scale, byte zero) =>
        scale == 0 ? zero : (byte)Math.Clamp((int)MathF.Round(value * (1f / scale)) + zero, 0, 15);
}
