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

    /// <summary>
    /// Quantize columns in order of decreasing H[i,i] (the reference's act-order, desc_act), so the columns whose inputs
    /// are largest are rounded first and the rest can absorb their error. The groups stay the contiguous runs of
    /// columns the tile layout stores (nothing to permute back at run time), so their scales are chosen up front from
    /// the original weights (the reference's static groups).
    /// </summary>
    public bool ActivationOrder { get; init; }

    /// <summary>
    /// Choose each group's scale by <see cref="GptqClipSearch"/> (the clipping whose GPTQ pass over the group leaves the
    /// least output error) instead of <see cref="ScaleRule"/>. Only in the natural order: with
    /// <see cref="ActivationOrder"/> the scales are fixed before any column is quantized.
    /// </summary>
    public bool ClipSearch { get; init; }

    /// <summary>
    /// After the codes are chosen, move each group's scale to the one that best fits them (<see cref="GptqScaleRefit"/>),
    /// on the same dampened Hessian. Never raises a row's output error.
    /// </summary>
    public bool RefitScales { get; init; }
}

/// <summary>
/// GPTQ (Frantar et al., 2022): quantizes a matrix column by column, in the natural order or (with
/// <see cref="GptqOptions.ActivationOrder"/>) by decreasing H[i,i] with static groups, and after each column subtracts its
/// rounding error, weighted by the upper Cholesky factor U of H⁻¹, from the columns not yet quantized. A group's scale
/// is chosen from the group's weights as they stand when its first column is reached, that is, with the error of
/// every earlier column already folded in (in activation order, from the original weights). Groups are always the
/// contiguous runs of columns the tile layout stores. Rows are independent given U, so the pool's threads take tiles of rows.
/// </summary>
public static class GptqQuantizer
{
    /// <param name="weights">(rows, columns) row-major.</param>
    /// <param name="hessian">(columns, columns): 2XᵀX/N of the matrix's calibration inputs.</param>
    public static Int4Matrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, ReadOnlySpan<double> hessian, Int4Format format,
        ActivationMode activations, WorkerPool pool, GptqOptions? options = null)
    {
        if (weights.Length < (long)rows * columns) throw new ArgumentException("Fewer weights than rows x columns.", nameof(weights));
        if (hessian.Length < (long)columns * columns) throw new ArgumentException("The Hessian is columns x columns.", nameof(hessian));
        return QuantizeInPlace(weights.Slice(0, rows * columns).ToArray(), rows, columns, hessian.Slice(0, columns * columns).ToArray(), format, activations, pool, options);
    }

    /// <summary>
    /// <see cref="Quantize"/> on arrays it may consume (the weights get the errors folded in, H its dampening): for a
    /// caller whose arrays are made for the call, so a 5,632-wide H is not copied once more.
    /// </summary>
    internal static Int4Matrix QuantizeInPlace(float[] w, int rows, int columns, double[] h, Int4Format format, ActivationMode activations, WorkerPool pool,
        GptqOptions? options = null)
    {
        options ??= new GptqOptions();
        if (w.Length != (long)rows * columns) throw new ArgumentException("The weights are rows x columns.", nameof(w));
        if (h.Length != (long)columns * columns) throw new ArgumentException("The Hessian is columns x columns.", nameof(h));
        if (!options.ScaleRule.IsWeightOnly()) throw new ArgumentException("The scale rule must be a weight-only recipe.", nameof(options));
        if (options.BlockSize < 1 || (options.BlockSize & (options.BlockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.BlockSize, "The block size is a power of two.");
        // A column no calibration input ever touched has no say in the error: quantize it as zero (the reference does the same).
        for (int i = 0; i < columns; i++)
        {
            if (h[(long)i * columns + i] != 0) continue;
            h[(long)i * columns + i] = 1;
            for (int r = 0; r < rows; r++) w[(long)r * columns + i] = 0;
        }
        var target = new Int4Matrix(rows, columns, format with { Recipe = Int4Recipe.Gptq }, activations);
        try
        {
            StaticGroups? groups = null;
            int[]? order = null;
            Refit? refit = options.RefitScales ? Refit.Of(w, h, columns, options.Dampening) : null;
            if (options.ActivationOrder)
            {
                groups = StaticGroups.Of(w, rows, columns, target.GroupSize, target.Groups, format.Asymmetric, options.ScaleRule);
                order = Enumerable.Range(0, columns).OrderByDescending(i => h[(long)i * columns + i]).ToArray();
                (w, h) = (PermuteColumns(w, rows, columns, order), PermuteSymmetric(h, columns, order));
            }
            var u = UpperFactor(h, columns, options.Dampening, pool);
            pool.Run(new RowTiles(w, u, columns, target, options, order, groups, refit), rows, RowTiles.Rows);
            return target;
        }
        catch
        {
            target.Dispose();
            throw;
        }
    }

    /// <summary>Each row's scale and zero point per group, chosen from the original weights (act-order's static groups).</summary>
    private sealed record StaticGroups(float[] Scales, byte[] Zeros)
    {
        public static StaticGroups Of(float[] w, int rows, int columns, int groupSize, int groups, bool asymmetric, Int4Recipe rule)
        {
            var scales = new float[rows * groups];
            var zeros = new byte[rows * groups];
            var scratch = new byte[groupSize];
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < groups; g++)
                {
                    int g0 = g * groupSize, length = Math.Clamp(columns - g0, 0, groupSize);
                    (scales[r * groups + g], zeros[r * groups + g]) = Int4Quantizer.Quantize(w.AsSpan(r * columns + g0, length), scratch, asymmetric, rule);
                }
            return new StaticGroups(scales, zeros);
        }
    }

    /// <summary>What <see cref="GptqScaleRefit"/> needs, in the order the matrix stores its columns: the original weights and the dampened H.</summary>
    private sealed record Refit(float[] Original, float[] Hessian)
    {
        public static Refit Of(float[] w, double[] h, int n, double dampening)
        {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += h[(long)i * n + i];
            mean /= n;
            var hf = QuadraticError.ToFloat(h);
            for (int i = 0; i < n; i++) hf[(long)i * n + i] = (float)(h[(long)i * n + i] + dampening * mean);
            return new Refit((float[])w.Clone(), hf);
        }
    }

    /// <summary>(rows, columns) with column i taken from column order[i].</summary>
    private static float[] PermuteColumns(float[] w, int rows, int columns, int[] order)
    {
        var result = new float[w.Length];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < columns; i++) result[r * columns + i] = w[r * columns + order[i]];
        return result;
    }

    /// <summary>P H Pᵀ: row and column i taken from order[i].</summary>
    private static double[] PermuteSymmetric(double[] h, int n, int[] order)
    {
        var result = new double[h.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) result[(long)i * n + j] = h[(long)order[i] * n + order[j]];
        return result;
    }

    /// <summary>
    /// U of H + damping, in float for the row updates; the damping grows tenfold until H is positive definite. Made in
    /// <paramref name="h"/>'s own array, which is not used after.
    /// </summary>
    private static float[] UpperFactor(double[] h, int n, double dampening, WorkerPool pool)
    {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[(long)i * n + i];
        mean /= n;
        Span<double> shifts = stackalloc double[6];
        for (int attempt = 0; attempt < shifts.Length; attempt++, dampening *= 10) shifts[attempt] = dampening * mean;
        return CholeskyInverse.FloatUpperFactorOfInverseInPlace(h, n, shifts, pool)
            ?? throw new InvalidOperationException("The calibration Hessian is not positive definite even with strong dampening.");
    }

    /// <param name="order">Column i of <paramref name="w"/> and U is column order[i] of the matrix; null for the natural order.</param>
    /// <param name="fixedGroups">The scales fixed up front (with <paramref name="order"/>); null to choose each at its group's first column.</param>
    private sealed unsafe class RowTiles(float[] w, float[] u, int columns, Int4Matrix target, GptqOptions options, int[]? order, StaticGroups? fixedGroups, Refit? refit) : IRangeJob
    {
        /// <summary>
        /// Rows that go through the columns together (four of the matrix's tiles): each element of U read from memory
        /// serves 32 rows in the lazy batch update, which keeps that product compute-bound even for a 5,632-wide U
        /// (127 MB) that no cache holds; the rows themselves (32 x 5,632 floats, 720 KB) stay in L2.
        /// </summary>
        public const int Rows = 4 * Int4Matrix.TileRows;

        /// <summary>
        /// Columns of a block whose errors go to the rest of the block together: one column at a time each error
        /// reached the rest of its block (64 columns on average) with one short vector loop per row; now it reaches at
        /// most 15, and the block's later columns get the sub-block's errors as a product.
        /// </summary>
        private const int SubBlock = 16;

        public void Execute(int begin, int end)
        {
            for (int first = begin; first < end; first += Rows) Tile(first, Math.Min(end, first + Rows));
        }

        /// <summary>Rows [first, last) through every column; they share each row of U while it is in cache.</summary>
        private void Tile(int first, int last)
        {
            int tile = last - first, groupSize = target.GroupSize, groups = target.Groups;
            bool asymmetric = target.Int4Format.Asymmetric;
            var codes = new byte[tile * groups * groupSize];  // (tile, KPadded)
            var scales = new float[tile * groups];
            var zeros = new byte[tile * groups];
            if (fixedGroups != null)
            {
                fixedGroups.Scales.AsSpan(first * groups, tile * groups).CopyTo(scales);
                fixedGroups.Zeros.AsSpan(first * groups, tile * groups).CopyTo(zeros);
            }
            Columns(first, tile, codes, scales, zeros, scalesFixed: fixedGroups != null);

            if (refit != null)
            {
                var work = new float[GptqScaleRefit.ScratchLength(tile, columns, groupSize)];
                GptqScaleRefit.Apply(refit.Original.AsSpan(first * columns, tile * columns), tile, codes, scales, zeros, groupSize, refit.Hessian, work);
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

        /// <summary>
        /// GPTQ's column loop over rows [first, first + tile): codes, and (unless <paramref name="scalesFixed"/>) each
        /// group's scale and zero point when its first column is reached. The rows of w are consumed (errors folded in).
        /// </summary>
        private void Columns(int first, int tile, byte[] codes, float[] scales, byte[] zeros, bool scalesFixed)
        {
            int groupSize = target.GroupSize, groups = target.Groups, block = options.BlockSize;
            bool asymmetric = target.Int4Format.Asymmetric;
            var errors = new float[tile * block];              // (tile, block) this block's scaled errors
            var scratch = new byte[groupSize];
            var search = options.ClipSearch && !scalesFixed ? new GptqClipSearch.Workspace(tile, groupSize) : null;
            var chosenScales = new float[tile];
            var chosenZeros = new byte[tile];
            Span<float> Row(int r) => w.AsSpan((first + r) * columns, columns);
            ReadOnlySpan<float> U(int i) => u.AsSpan(i * columns, columns);

            for (int b0 = 0; b0 < columns; b0 += block)
            {
                int b1 = Math.Min(columns, b0 + block);
                // Within the block, sub-blocks of SubBlock columns: a column's error goes at once to the rest of its
                // sub-block, and the sub-block's errors to the rest of the block in one product; a group whose scale is
                // chosen when it is reached starts a sub-block, so its columns have every earlier error when it is chosen.
                for (int s0 = b0; s0 < b1;)
                {
                    int s1 = Math.Min(b1, s0 + SubBlock);
                    if (!scalesFixed) s1 = Math.Min(s1, (s0 / groupSize + 1) * groupSize);
                    for (int i = s0; i < s1; i++) Column(i, b0, s1);
                    if (s1 < b1)
                        fixed (float* wp = w, up = u, ep = errors)
                            OrderedBlockUpdate.Subtract(wp + (long)first * columns + s1, columns, ep + (s0 - b0), block, up + (long)s0 * columns + s1, columns, tile, s1 - s0, b1 - s1);
                    s0 = s1;
                }
                // The block's errors reach the columns after it in one product, (tile, block) x (block, columns after),
                // each element's terms in the same order as the unblocked updates would have brought them.
                if (b1 == columns) continue;
                fixed (float* wp = w, up = u, ep = errors)
                    OrderedBlockUpdate.Subtract(wp + (long)first * columns + b1, columns, ep, block, up + (long)b0 * columns + b1, columns, tile, b1 - b0, columns - b1);
            }

            // Column i of every row: the group's scale if it starts here, the code, the scaled error (kept for the
            // products), and the error spread over the rest of the sub-block (up to s1).
            void Column(int i, int b0, int s1)
            {
                int column = order?[i] ?? i; // where the column is stored
                int g = column / groupSize;
                float d = U(i)[i];
                if (!scalesFixed && i % groupSize == 0)
                {
                    int length = Math.Min(groupSize, columns - i);
                    if (search != null)
                    {
                        GptqClipSearch.Choose(w.AsSpan(first * columns + i), columns, tile, length, u, columns, i, asymmetric, chosenScales, chosenZeros, search);
                        for (int r = 0; r < tile; r++) (scales[r * groups + g], zeros[r * groups + g]) = (chosenScales[r], chosenZeros[r]);
                    }
                    else
                    {
                        for (int r = 0; r < tile; r++)
                            (scales[r * groups + g], zeros[r * groups + g]) = Int4Quantizer.Quantize(Row(r).Slice(i, length), scratch, asymmetric, options.ScaleRule);
                    }
                }
                for (int r = 0; r < tile; r++)
                {
                    var row = Row(r);
                    float s = scales[r * groups + g];
                    byte z = zeros[r * groups + g];
                    byte q = Code(row[i], s, z);
                    codes[r * groups * groupSize + column] = q;
                    float error = (row[i] - (q - z) * s) / d;
                    errors[r * block + i - b0] = error;
                    ScaledSubtraction.Apply(row.Slice(i + 1, s1 - i - 1), error, U(i).Slice(i + 1));
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
