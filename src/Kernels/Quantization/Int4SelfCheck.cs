using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// A start-up check of one instruction-set path against the scalar reference, on a few small matrices. A path this
/// project's tests could not run on the machine it was built on (AVX-512 or AVX-VNNI, say) is then never trusted
/// blindly: if it disagrees with the reference, dispatch falls back to the next path and says so. Costs well under
/// a millisecond, once per process.
/// </summary>
internal static unsafe class Int4SelfCheck
{
    private static readonly Int4Format[] Formats =
    [
        new(32, false),
        new(128, true),
        new(Int4Format.PerChannel, false),
    ];

    /// <summary>True when <paramref name="path"/> gives the reference's bits (INT8 activations) and its values within rounding (FP32).</summary>
    public static bool Passes(KernelPath path)
    {
        if (path == KernelPath.Scalar) return true;
        const int rows = 20, columns = 300, tokens = 15; // 8 + 4 + 2 + 1: every token-group size a kernel has
        var random = new Random(20231100);
        var weights = new float[rows * columns];
        var input = new float[tokens * columns];
        for (int i = 0; i < weights.Length; i++) weights[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < input.Length; i++) input[i] = (float)(random.NextDouble() * 2 - 1) * (i % 7 == 0 ? 8 : 1);
        foreach (var format in Formats)
        {
            foreach (var mode in new[] { ActivationMode.Int8, ActivationMode.Float32 })
            {
                using var matrix = Int4Matrix.Quantize(weights, rows, columns, format, mode);
                var expected = Multiply(matrix, input, tokens, KernelPath.Scalar);
                var actual = Multiply(matrix, input, tokens, path);
                for (int i = 0; i < expected.Length; i++)
                {
                    bool same = mode == ActivationMode.Int8
                        ? BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i])
                        : MathF.Abs(expected[i] - actual[i]) <= 1e-3f * (1 + MathF.Abs(expected[i]));
                    if (!same) return false;
                }
            }
        }
        return true;
    }

    private static float[] Multiply(Int4Matrix matrix, float[] input, int tokens, KernelPath path)
    {
        var output = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* x = input)
        fixed (float* y = output)
        {
            matrix.Prepare(x, tokens, scratch);
            Int4MatMul.Multiply(path, matrix.KernelView, matrix.Activations, scratch, y, matrix.Rows, tokens, 0, matrix.Tiles);
        }
        return output;
    }
}
