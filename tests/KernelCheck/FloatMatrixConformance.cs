using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.KernelCheck;

/// <summary>
/// FP16 and FP32 weight matrices against a double-precision reference, on odd shapes. Run in each child process, this
/// covers whichever path the process picks (AVX2 widening in registers, or the TensorPrimitives slices).
/// </summary>
public static class FloatMatrixConformance
{
    public static IEnumerable<ConformanceResult> Run()
    {
        foreach (var (rows, columns, tokens) in new[] { (1, 1, 1), (7, 33, 2), (13, 1025, 3), (64, 256, 5), (5, 4096, 1) })
        {
            var random = new Random(rows * 31 + columns);
            var w = Enumerable.Range(0, rows * columns).Select(_ => (float)(Half)(random.NextDouble() * 2 - 1)).ToArray();
            var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
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
                yield return new ConformanceResult(matrix.Format + " matrix", KernelDispatch.Best, $"{rows}x{columns} tokens={tokens}", passed, maxError, worstTolerance);
            }
        }
    }

    private static unsafe float[] Multiply(WeightMatrix matrix, float[] x, int tokens)
    {
        var y = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* px = x)
        fixed (float* py = y)
        {
            matrix.Prepare(px, tokens, scratch);
            matrix.MultiplyRows(px, py, matrix.Rows, tokens, 0, matrix.Rows, scratch);
        }
        return y;
    }
}
