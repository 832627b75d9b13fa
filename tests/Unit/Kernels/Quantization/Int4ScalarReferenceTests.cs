using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// The scalar INT4 kernel, which every SIMD path must match bit for bit, checked itself against exact arithmetic: a
/// double-precision sum of the dequantized weights times the (quantized) activations. With INT8 activations every
/// product is exact in double, so the only difference allowed is the kernel's float rounding, 1e-6 of the sum of the
/// magnitudes of the terms.
/// </summary>
public sealed unsafe class Int4ScalarReferenceTests
{
    public static IEnumerable<object[]> Cases() =>
        from shape in KernelConformance.Shapes
        from format in KernelConformance.Formats
        from input in new[] { "random", "max-magnitude", "alternating-extremes", "one-hot" }
        select new object[] { shape.Rows, shape.Columns, format.GroupSize, format.Asymmetric, input };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ScalarKernelEqualsTheExactSum(int rows, int columns, int groupSize, bool asymmetric, string input)
    {
        const int tokens = 2;
        var (weights, activations) = KernelConformance.MakeInputs(input, rows, columns, tokens, seed: rows * 31 + columns);
        using var matrix = Int4Matrix.Quantize(weights, rows, columns, new Int4Format(groupSize, asymmetric));
        var dequantized = new float[rows * columns];
        for (int r = 0; r < rows; r++) matrix.DequantizeRow(r, dequantized.AsSpan(r * columns, columns));

        foreach (var mode in new[] { ActivationMode.Int8, ActivationMode.Float32 })
        {
            matrix.Activations = mode;
            var actual = KernelConformance.Multiply(matrix, activations, tokens, KernelPath.Scalar);
            var x = mode == ActivationMode.Int8 ? QuantizedActivations(matrix, activations, tokens) : activations.Select(v => (double)v).ToArray();
            // FP32 activations are summed in float within a group (up to a whole row per channel): a looser bound.
            double relative = mode == ActivationMode.Int8 ? 1e-6 : 1e-5;
            for (int t = 0; t < tokens; t++)
            {
                for (int r = 0; r < rows; r++)
                {
                    double exact = 0, magnitude = 0;
                    for (int k = 0; k < columns; k++)
                    {
                        double term = (double)dequantized[r * columns + k] * x[t * columns + k];
                        exact += term;
                        magnitude += Math.Abs(term);
                    }
                    double error = Math.Abs(actual[t * rows + r] - exact);
                    Assert.True(error <= relative * magnitude + 1e-30,
                        $"{mode} token {t} row {r}: kernel {actual[t * rows + r]} vs exact {exact} (error {error:E2}, bound {relative * magnitude:E2})");
                }
            }
        }
    }

    /// <summary>The activations as the INT8 kernel sees them: each value's INT8 code times its block's scale, in double.</summary>
    private static double[] QuantizedActivations(Int4Matrix matrix, float[] activations, int tokens)
    {
        using var scratch = new ActivationScratch();
        var result = new double[activations.Length];
        fixed (float* x = activations)
        {
            matrix.Prepare(x, tokens, scratch);
            int blocks = matrix.KPadded / matrix.BlockSize;
            for (int t = 0; t < tokens; t++)
            {
                for (int k = 0; k < matrix.Columns; k++)
                {
                    sbyte q = scratch.Int8[(long)t * scratch.Int8Stride + k];
                    float scale = scratch.BlockScales[(long)t * blocks + k / matrix.BlockSize];
                    result[t * matrix.Columns + k] = q * (double)scale;
                }
            }
        }
        return result;
    }
}
