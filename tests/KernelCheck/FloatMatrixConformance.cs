using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.KernelCheck;

/// <summary>
/// FP16 and FP32 weight matrices against a double-precision reference, on odd shapes and large values. Run in each child
/// process, this covers whichever path the process picks: for one FP16 token, AVX2 widening in registers or the
/// TensorPrimitives slices; for several, the FP16 prefill kernel of the process's path (512-, 256- or 128-bit) or,
/// scalar, the slices.
/// </summary>
public static class FloatMatrixConformance
{
    public static IEnumerable<ConformanceResult> Run()
    {
        // Activations of 10^4 at most let the few-token FP16 kernels put the weights' 2^112 on them (exact below 2^16);
        // the shapes with activations up to 2 x 10^5 take the plain path, and must give the same bits alone as in a pass.
        var cases = Shapes.Select(c => (c.Rows, c.Columns, c.Tokens, c.Large, Scale: c.Large ? 1e4 : 1))
            .Concat(HugeActivationShapes.Select(c => (c.Rows, c.Columns, c.Tokens, Large: true, Scale: 2e5)));
        foreach (var (rows, columns, tokens, large, scale) in cases)
        {
            var random = new Random(rows * 31 + columns);
            var w = Enumerable.Range(0, rows * columns).Select(_ => (float)(Half)(large ? LargeWeight(random) : random.NextDouble() * 2 - 1)).ToArray();
            var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();
            using var f32 = Float32Matrix.FromRowMajor(w, rows, columns);
            using var f16 = new Float16Matrix(rows, columns);
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < columns; k++) f16.RowSpan(r)[k] = (Half)w[r * columns + k];
            foreach (WeightMatrix matrix in new WeightMatrix[] { f32, f16 })
            {
                var y = Multiply(matrix, x, tokens);
                double maxError = 0, worstTolerance = 0;
                bool passed = true;
                for (int t = 0; t < tokens; t++)
                for (int r = 0; r < rows; r++)
                {
                    double reference = 0, bound = 0;
                    for (int k = 0; k < columns; k++)
                    {
                        reference += (double)w[r * columns + k] * x[t * columns + k];
                        bound += Math.Abs((double)w[r * columns + k] * x[t * columns + k]);
                    }
                    double error = Math.Abs(y[t * rows + r] - reference), tolerance = 1e-5 * bound + 1e-7;
                    if (!(error <= tolerance)) passed = false;
                    if (error >= maxError) { maxError = error; worstTolerance = tolerance; }
                }
                yield return new ConformanceResult(matrix.Format + " matrix", KernelDispatch.Best, $"{rows}x{columns} tokens={tokens}{(large ? " large" : "")}{(scale > 65536 ? " huge activations" : "")}", passed, maxError, worstTolerance);
            }
            if (tokens > 1) yield return AloneAsInAPass(f16, x, tokens, $"{rows}x{columns} tokens={tokens}{(large ? " large" : "")}{(scale > 65536 ? " huge activations" : "")}");
        }
        foreach (int tokens in new[] { 1, 3, 6 }) yield return NotFiniteWeights(tokens);
    }

    /// <summary>
    /// An FP16 row with an infinity or a NaN gives results that are not finite, the first time and every time after
    /// (few tokens check each row once and widen the rows found finite without the fix-up), while the other rows keep
    /// the reference's values; a row written afterwards is checked again, whether it was mended or damaged.
    /// </summary>
    private static ConformanceResult NotFiniteWeights(int tokens)
    {
        const int rows = 9, columns = 70;
        var random = new Random(tokens);
        using var f16 = new Float16Matrix(rows, columns);
        var w = new float[rows * columns]; // the weights as written, read back without touching the matrix's rows
        void Write(int r, int k, Half value) { f16.RowSpan(r)[k] = value; w[r * columns + k] = (float)value; }
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < columns; k++) Write(r, k, (Half)(random.NextDouble() * 2 - 1));
        var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        Write(2, 5, Half.PositiveInfinity);
        Write(6, columns - 1, Half.NaN);
        var failures = new List<string>();
        void Check(string when, params int[] damaged)
        {
            var y = Multiply(f16, x, tokens);
            for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float value = y[t * rows + r];
                if (damaged.Contains(r)) { if (float.IsFinite(value)) failures.Add($"{when}: row {r} finite"); continue; }
                double reference = 0, bound = 0;
                for (int k = 0; k < columns; k++)
                {
                    reference += (double)w[r * columns + k] * x[t * columns + k];
                    bound += Math.Abs((double)w[r * columns + k] * x[t * columns + k]);
                }
                if (!(Math.Abs(value - reference) <= 1e-5 * bound + 1e-7)) failures.Add($"{when}: row {r} {value} against {reference}");
            }
        }
        Check("first", 2, 6);
        Check("again", 2, 6);
        Write(2, 5, (Half)0.25);
        // Row 8 is a four-row tile of its own in the second worker's range (rows 4 to 8): found finite before, so only
        // its check after the write can find the infinity.
        Write(8, 0, Half.NegativeInfinity);
        Check("rows written", 6, 8);
        return new ConformanceResult("F16 matrix, weights not finite", KernelDispatch.Best, $"{rows}x{columns} tokens={tokens}",
            failures.Count == 0, failures.Count, 0);
    }

    /// <summary>
    /// Each token multiplied alone gives the same bits as in the pass of all of them: a sequence decoded in a batch must
    /// get the logits it gets alone, though few tokens and many take different FP16 kernels.
    /// </summary>
    private static ConformanceResult AloneAsInAPass(WeightMatrix matrix, float[] x, int tokens, string shape)
    {
        var together = Multiply(matrix, x, tokens);
        int differing = 0;
        double maxError = 0;
        for (int t = 0; t < tokens; t++)
        {
            var alone = Multiply(matrix, x.AsSpan(t * matrix.Columns, matrix.Columns).ToArray(), 1);
            for (int r = 0; r < matrix.Rows; r++)
            {
                float a = alone[r], b = together[t * matrix.Rows + r];
                if (BitConverter.SingleToInt32Bits(a) != BitConverter.SingleToInt32Bits(b)) differing++;
                maxError = Math.Max(maxError, Math.Abs((double)a - b));
            }
        }
        return new ConformanceResult(matrix.Format + " token alone as in a pass", KernelDispatch.Best, shape, differing == 0, maxError, 0);
    }

    /// <summary>
    /// Rows, columns, tokens, and whether the values are large. The FP16 prefill kernels take four rows by up to four
    /// tokens and 16, 8 or 4 columns a step, and widen 1024 columns at a time: the shapes leave partial row tiles,
    /// token groups (7 = 4 + 2 + 1), column tails within and across blocks (1025, 2049, 3000), and a column block over
    /// many tokens (64). Large values put FP16's largest and subnormal weights against activations up to 10^4.
    /// </summary>
    public static readonly (int Rows, int Columns, int Tokens, bool Large)[] Shapes =
    [
        (1, 1, 1, false), (7, 33, 2, false), (13, 1025, 3, false), (64, 256, 5, false), (5, 4096, 1, false),
        (9, 2049, 7, false), (4, 16, 4, false), (6, 3000, 64, false), (17, 1040, 9, true), (3, 7, 5, true), (11, 1300, 16, false),
        (10, 1300, 17, false),
    ];

    /// <summary>Shapes run with large weights and activations up to 2 x 10^5, past what the 2^112 rebias keeps exact (17 tokens: a pass against each alone).</summary>
    public static readonly (int Rows, int Columns, int Tokens)[] HugeActivationShapes = [(9, 1040, 3), (5, 33, 17)];

    /// <summary>A weight of any magnitude FP16 holds, from subnormals (2^-24) to its largest (65504), of either sign.</summary>
    private static double LargeWeight(Random random)
    {
        double magnitude = random.Next(4) switch
        {
            0 => 65504,
            1 => Math.Pow(2, -24) * random.Next(1, 1024),
            _ => Math.Pow(2, random.Next(-14, 16)) * (1 + random.NextDouble()),
        };
        return random.Next(2) == 0 ? magnitude : -magnitude;
    }

    private static unsafe float[] Multiply(WeightMatrix matrix, float[] x, int tokens)
    {
        var y = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* px = x)
        fixed (float* py = y)
        {
            matrix.Prepare(px, tokens, scratch);
            // In two row ranges, as two workers would run them: the second starts inside a four-row tile when Rows / 2 is odd.
            int split = matrix.Rows / 2;
            matrix.MultiplyRows(px, py, matrix.Rows, tokens, 0, split, scratch);
            matrix.MultiplyRows(px, py, matrix.Rows, tokens, split, matrix.Rows, scratch);
        }
        return y;
    }
}
