using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// The Q4_K matrix: its values are ggml's (the engine's ggml dequantizer, itself checked against ggml's reference, is
/// the oracle), and its scalar kernel equals the exact sum of those values times the INT8 activations to float rounding.
/// </summary>
public sealed unsafe class Q4KMatrixTests
{
    [Theory]
    [InlineData(8, 256, 0.01f)]
    [InlineData(11, 512, 30f)]
    [InlineData(1, 768, 1e-4f)]
    public void RowsDequantizeToGgmlsValues(int rows, int columns, float dScale)
    {
        var random = new Random(rows + columns);
        var blocks = new byte[rows][];
        using var matrix = new Q4KMatrix(rows, columns);
        for (int r = 0; r < rows; r++)
        {
            blocks[r] = new byte[columns / 256 * 144];
            random.NextBytes(blocks[r]);
            for (int b = 0; b < blocks[r].Length; b += 144)
            {
                BitConverter.TryWriteBytes(blocks[r].AsSpan(b), (Half)(dScale * (0.2 + random.NextDouble())));
                BitConverter.TryWriteBytes(blocks[r].AsSpan(b + 2), (Half)(dScale * random.NextDouble()));
            }
            matrix.SetRow(r, blocks[r]);
        }
        var expected = new float[columns];
        var actual = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            LlmCpu.Engine.Formats.Gguf.GgmlDequantizer.Dequantize(LlmCpu.Engine.Formats.Gguf.GgmlType.Q4_K, blocks[r], expected);
            matrix.DequantizeRow(r, actual);
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [InlineData(8, 256)]
    [InlineData(13, 512)]
    public void ScalarKernelEqualsTheExactSum(int rows, int columns)
    {
        const int tokens = 3;
        var random = new Random(rows * columns);
        using var matrix = Q4KConformance.RandomMatrix(rows, columns, 0.05f, random);
        var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var actual = Q4KConformance.Multiply(matrix, x, tokens, KernelPath.Scalar);

        using var scratch = new ActivationScratch();
        fixed (float* px = x) matrix.Prepare(px, tokens, scratch);
        var w = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            matrix.DequantizeRow(r, w);
            for (int t = 0; t < tokens; t++)
            {
                double exact = 0, magnitude = 0;
                for (int k = 0; k < columns; k++)
                {
                    double xq = scratch.Int8[(long)t * columns + k] * (double)scratch.BlockScales[(long)t * (columns / 32) + k / 32];
                    exact += w[k] * xq;
                    magnitude += Math.Abs(w[k] * xq);
                }
                Assert.True(Math.Abs(actual[t * rows + r] - exact) <= 2e-6 * magnitude, $"token {t} row {r}: {actual[t * rows + r]} vs {exact}");
            }
        }
    }

    [Fact]
    public void RowsThatAreNotWholeSuperBlocksAreRefused() => Assert.Throws<ArgumentException>(() => new Q4KMatrix(8, 300));
}
