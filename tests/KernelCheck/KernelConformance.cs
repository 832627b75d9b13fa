using System.Runtime.InteropServices;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.KernelCheck;

/// <summary>One comparison of a kernel path against the scalar reference.</summary>
public sealed record ConformanceResult(string Kernel, KernelPath Path, string Case, bool Passed, double MaxError, double Tolerance);

/// <summary>
/// Compares every INT4 kernel path with the scalar reference over a table of shapes, formats and inputs: random
/// weights and activations, and adversarial ones (all-equal groups, zeros, the largest FP16-representable magnitudes,
/// one-hot and alternating extremes, and scales that are infinite or NaN, as a damaged file's can be), with K and N that
/// are not multiples of the chunk or the tile. INT8 paths must match the reference bit for bit (the same infinities and
/// NaNs where scales are not finite); FP32-activation paths within 1e-5 of the sum of |w x|.
/// </summary>
public static unsafe class KernelConformance
{
    public static readonly (int Rows, int Columns)[] Shapes = [(8, 32), (1, 32), (13, 96), (17, 200), (24, 257), (9, 1000)];
    public static readonly Int4Format[] Formats =
        [new(32, false), new(64, false), new(128, false), new(-1, false), new(32, true), new(64, true), new(128, true), new(-1, true)];
    public static readonly string[] Inputs = ["random", "equal-groups", "zeros", "max-magnitude", "one-hot", "alternating-extremes", "non-finite-scales"];

    public static IEnumerable<ConformanceResult> Run(IEnumerable<KernelPath> paths)
    {
        var pathList = paths.Where(p => p != KernelPath.Scalar).ToArray();
        foreach (var (rows, columns) in Shapes)
        foreach (var format in Formats)
        foreach (string input in Inputs)
        foreach (int tokens in new[] { 1, 3, 13, 31 }) // 13 = 8 + 4 + 1, 31 = 16 + 8 + 4 + 2 + 1: every token-group size of every path
        {
            var (weights, activations) = MakeInputs(input, rows, columns, tokens, seed: rows * 1000 + columns);
            using var matrix = Int4Matrix.Quantize(weights, rows, columns, format);
            bool nonFinite = input == "non-finite-scales";
            if (nonFinite) DamageScales(matrix);
            string name = $"{rows}x{columns} {format} {input} tokens={tokens}";
            // With non-finite scales only the INT8 kernels, whose arithmetic is the reference's operation for operation,
            // must give the same infinities and NaNs; FP32 sums in another order (a product 0 x infinity in one, not the other).
            foreach (var mode in nonFinite ? new[] { ActivationMode.Int8 } : new[] { ActivationMode.Int8, ActivationMode.Float32 })
            {
                matrix.Activations = mode;
                var reference = Multiply(matrix, activations, tokens, KernelPath.Scalar);
                var bound = AbsoluteBound(matrix, activations, tokens);
                foreach (var path in pathList)
                {
                    var actual = Multiply(matrix, activations, tokens, path);
                    double maxError = 0, worstTolerance = 0;
                    bool passed = true;
                    for (int i = 0; i < actual.Length; i++)
                    {
                        if (nonFinite && !float.IsFinite(reference[i]))
                        {
                            // Equals counts NaN equal to NaN: the same infinity, or NaN where the reference has NaN.
                            if (!actual[i].Equals(reference[i])) passed = false;
                            continue;
                        }
                        double error = Math.Abs((double)actual[i] - reference[i]);
                        double tolerance = mode == ActivationMode.Int8 ? 0 : 1e-5 * bound[i] + 1e-30;
                        if (float.IsNaN(actual[i]) || error > tolerance) passed = false;
                        if (error >= maxError) { maxError = error; worstTolerance = tolerance; }
                    }
                    yield return new ConformanceResult($"Int4x{mode}", path, name, passed, maxError, worstTolerance);
                }
            }
        }
    }

    /// <summary>
    /// Sets three scales to +infinity, -infinity and NaN (the first row's first group, the middle row's last group, the
    /// last row's first group), keeping their codes: the kernels must then take the exact FP16 conversion.
    /// </summary>
    private static void DamageScales(Int4Matrix matrix)
    {
        var view = matrix.View;
        var codes = new byte[matrix.GroupSize];
        foreach (var (row, group, scale) in new[] { (0, 0, Half.PositiveInfinity), (matrix.Rows / 2, matrix.Groups - 1, Half.NegativeInfinity),
                     (matrix.Rows - 1, 0, Half.NaN) })
        {
            for (int k = 0; k < codes.Length; k++)
                codes[k] = (byte)(group * matrix.GroupSize + k < matrix.Columns ? view.Quant(row, group * matrix.GroupSize + k) : view.Zero(row, group));
            matrix.SetGroup(row, group, scale, codes, (byte)view.Zero(row, group));
        }
        if (matrix.ScalesFinite) throw new InvalidOperationException("The damaged scales were checked as finite.");
    }

    /// <summary>Runs the matrix's multiplication on one named path (the dispatcher itself always takes the best).</summary>
    public static float[] Multiply(Int4Matrix matrix, float[] activations, int tokens, KernelPath path)
    {
        var output = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* x = activations)
        fixed (float* y = output)
        {
            matrix.Prepare(x, tokens, scratch);
            Int4MatMul.Multiply(path, matrix.KernelView, matrix.Activations, scratch, y, matrix.Rows, tokens, 0, matrix.Tiles);
        }
        return output;
    }

    /// <summary>Sum over k of |dequantized w| * |x|, per output: the scale of rounding error in an FP32 dot product.</summary>
    private static double[] AbsoluteBound(Int4Matrix matrix, float[] activations, int tokens)
    {
        var bound = new double[tokens * matrix.Rows];
        var row = new float[matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.DequantizeRow(r, row);
            for (int t = 0; t < tokens; t++)
            {
                double sum = 0;
                for (int k = 0; k < matrix.Columns; k++) sum += Math.Abs((double)row[k] * activations[t * matrix.Columns + k]);
                bound[t * matrix.Rows + r] = sum;
            }
        }
        return bound;
    }

    public static (float[] Weights, float[] Activations) MakeInputs(string kind, int rows, int columns, int tokens, int seed)
    {
        var random = new Random(seed);
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        var w = new float[rows * columns];
        var x = new float[tokens * columns];
        switch (kind)
        {
            case "random" or "non-finite-scales":
                for (int i = 0; i < w.Length; i++) w[i] = Normal() * 0.05f;
                for (int i = 0; i < x.Length; i++) x[i] = Normal();
                break;
            case "equal-groups":
                // Every weight in a row equal: each group's values all quantize to the extreme code.
                for (int r = 0; r < rows; r++) w.AsSpan(r * columns, columns).Fill((r % 3 - 1) * 0.37f + 0.01f);
                for (int i = 0; i < x.Length; i++) x[i] = 1.5f;
                break;
            case "zeros":
                for (int i = 0; i < x.Length; i++) x[i] = Normal();
                break;
            case "max-magnitude":
                // Scales near the top of FP16's range (65504 / 8), activations large too.
                for (int i = 0; i < w.Length; i++) w[i] = (i % 2 == 0 ? 1 : -1) * 60000f * (float)random.NextDouble();
                for (int i = 0; i < x.Length; i++) x[i] = (i % 3 == 0 ? -1 : 1) * 1e4f;
                break;
            case "one-hot":
                for (int i = 0; i < w.Length; i++) w[i] = Normal();
                for (int t = 0; t < tokens; t++) x[t * columns + (t * 7) % columns] = 3f;
                break;
            case "alternating-extremes":
                for (int i = 0; i < w.Length; i++) w[i] = i % 2 == 0 ? 1f : -1f;
                for (int i = 0; i < x.Length; i++) x[i] = i % 2 == 0 ? 1e3f : -1e-3f;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
        return (w, x);
    }
}
