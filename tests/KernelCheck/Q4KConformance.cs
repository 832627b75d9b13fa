using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.KernelCheck;

/// <summary>
/// Every Q4_K kernel path against the Q4_K scalar reference, bit for bit (INT8 activations), on random Q4_K blocks
/// (random codes, 6-bit scales and minimums, with FP16 super-block scales from tiny to large) and shapes that leave
/// a partial last tile, for every token-group size.
/// </summary>
public static unsafe class Q4KConformance
{
    public static readonly (int Rows, int Columns)[] Shapes = [(8, 256), (13, 512), (3, 256), (24, 768)];

    public static IEnumerable<ConformanceResult> Run(IEnumerable<KernelPath> paths)
    {
        var pathList = paths.Where(p => p != KernelPath.Scalar).ToArray();
        foreach (var (rows, columns) in Shapes)
        foreach (float dScale in new[] { 1e-4f, 0.01f, 30f })
        foreach (int tokens in new[] { 1, 3, 13 })
        {
            var random = new Random(rows * 7919 + columns + (int)(dScale * 1000));
            using var matrix = RandomMatrix(rows, columns, dScale, random);
            var x = new float[tokens * columns];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1) * (i % 11 == 0 ? 20 : 1);
            var reference = Multiply(matrix, x, tokens, KernelPath.Scalar);
            string name = $"Q4_K {rows}x{columns} d~{dScale} tokens={tokens}";
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
                yield return new ConformanceResult("Q4KxInt8", path, name, passed, maxError, 0);
            }
        }
    }

    /// <summary>A matrix of random Q4_K blocks as a GGUF file would hold them.</summary>
    public static Q4KMatrix RandomMatrix(int rows, int columns, float dScale, Random random)
    {
        var matrix = new Q4KMatrix(rows, columns);
        var row = new byte[columns / Q4KMatrix.SuperBlock * Q4KMatrix.BlockBytes];
        for (int r = 0; r < rows; r++)
        {
            random.NextBytes(row);
            for (int b = 0; b < row.Length; b += Q4KMatrix.BlockBytes)
            {
                BitConverter.TryWriteBytes(row.AsSpan(b), (Half)(dScale * (0.2 + random.NextDouble())));
                BitConverter.TryWriteBytes(row.AsSpan(b + 2), (Half)(dScale * random.NextDouble()));
            }
            matrix.SetRow(r, row);
        }
        return matrix;
    }

    public static float[] Multiply(Q4KMatrix matrix, float[] activations, int tokens, KernelPath path)
    {
        var output = new float[tokens * matrix.Rows];
        using var scratch = new ActivationScratch();
        fixed (float* x = activations)
        fixed (float* y = output)
        {
            matrix.Prepare(x, tokens, scratch);
            Int4MatMul.MultiplyQ4K(path, matrix.View, matrix.Scales, scratch, y, matrix.Rows, tokens, 0, matrix.Tiles);
        }
        return output;
    }
}
