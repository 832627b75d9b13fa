using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// The Q6_K matrix: its values are ggml's (the engine's ggml dequantizer is the oracle), and its scalar kernel equals
/// the exact sum of those values times the INT8 activations to float rounding.
/// </summary>
public sealed unsafe class Q6KMatrixTests
{
    [Theory]
    [InlineData(8, 256, 0.001f)]
    [InlineData(11, 512, 3f)]
    [InlineData(1, 768, 1e-5f)]
    public void RowsDequantizeToGgmlsValues(int rows, int columns, float dScale)
    {
        var random = new Random(rows + columns);
        var blocks = new byte[rows][];
        using var matrix = new Q6KMatrix(rows, columns);
        for (int r = 0; r < rows; r++)
        {
            blocks[r] = new byte[columns / 256 * 210];
            random.NextBytes(blocks[r]);
            for (int b = 0; b < blocks[r].Length; b += 210) BitConverter.TryWriteBytes(blocks[r].AsSpan(b + 208), (Half)(dScale * (0.2 + random.NextDouble())));
            matrix.SetRow(r, blocks[r]);
        }
        var expected = new float[columns];
        var actual = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            LlmCpu.Engine.Formats.Gguf.GgmlDequantizer.Dequantize(LlmCpu.Engine.Formats.Gguf.GgmlType.Q6_K, blocks[r], expected);
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
        using var matrix = Q6KConformance.RandomMatrix(rows, columns, 0.002f, random);
        var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var actual = Q6KConformance.Multiply(matrix, x, tokens, KernelPath.Scalar);

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
    public void HalfChunkSumsAreTheFirstSixteenActivations()
    {
        var x = Enumerable.Range(0, 2 * 64).Select(i => (float)Math.Sin(i)).ToArray();
        using var scratch = new ActivationScratch();
        fixed (float* px = x) scratch.QuantizeInt8(px, 2, 64, 64, 32);
        for (int t = 0; t < 2; t++)
            for (int c = 0; c < 2; c++)
            {
                int expected = 0;
                for (int j = 0; j < 16; j++) expected += scratch.Int8[t * 64 + c * 32 + j];
                Assert.Equal(expected, scratch.ChunkHalfSums[t * 2 + c]);
            }
    }
}
