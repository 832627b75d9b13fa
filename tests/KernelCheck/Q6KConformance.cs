using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.KernelCheck;

/// <summary>
/// Every Q6_K kernel path against the Q6_K scalar reference, bit for bit (INT8 activations), on random Q6_K blocks
/// (random 6-bit codes and signed 8-bit scales, FP16 super-block scales from tiny to large), shapes with a partial last
/// tile, and every token-group size.
/// </summary>
public static unsafe class Q6KConformance
{
    public static readonly (int Rows, int Columns)[] Shapes = [(8, 256), (13, 512), (3, 256), (24, 768)];

    public static IEnumerable<ConformanceResult> Run(IEnumerable<KernelPath> paths)
    {
        var pathList = paths.Where(p => p != KernelPath.Scalar).ToArray();
        foreach (var (rows, columns) in Shapes)
        foreach (float dScale in new[] { 1e-5f, 0.001f, 3f })
        foreach (int tokens in new[] { 1, 3, 13 })
        {
            var random = new Random(rows * 104729 + columns + (int)(dScale * 100000));
            using var matrix = RandomMatrix(rows, columns, dScale, random);
            var x = new float[tokens * columns];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * (i % 7 == 0 ? 50 : 1);
            var reference = Multiply(matrix, x, tokens, KernelPath.Scalar);
            string name = $"Q6_K {rows}x{columns} d~{dScale} tokens={tokens}";
            foreach (var path in pathList)
            {
                var actual = Multiply(matrix, x, tokens, path);
                double maxError = 0;
                bool passed = true;
                for (int i = 0; i < actual.Length; i++)
                {
                    double error = Math.Abs((double)actual[i] - reference[i]);
                    if (float.IsNaN(actual[i]) || error > 0) passed = false;
                    maxError = Math.Max(maxError, error);
                }
                yield return new ConformanceResult("Q6KxInt8", path, name, passed, maxError, 0);
            }
        }
    }

    /// <summary>A matrix of random Q6_K blocks as a GGUF file would hold them.</summary>
    public static Q6KMatrix RandomMatrix(int rows, int columns, float dScale, Random random)
    {
        var matrix = new Q6KMatrix(rows, columns);
        var row = new byte[columns / Q6KMatrix.SuperBlock * Q6KMatrix.BlockBytes];
        for (int r = 0; r < rows; r++)
        {
            random.NextBytes(row);
            for (int b = 0; b < row.Length; b += Q6KMatrix.BlockBytes)
                BitConverter.TryWriteBytes(row.AsSpan(b + 208), (Half)(dScale * (0.2 + random.NextDouble())));
            matrix.SetRow(r, row);
        }
        return matrix;
    }

    public static float[] Multiply(Q6KMatrix matrix, float[] activations, int tokens, KernelPath path)
    {
        var output = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* x = activations)
        fixed (float* y = output)
        {
            matrix.Prepare(x, tokens, scratch);
            Q6KMatMul.Multiply(path, matrix.Lows, matrix.Planes, scratch, y, matrix.Rows, tokens, 0, matrix.Tiles);
        }
        return output;
    }
}
