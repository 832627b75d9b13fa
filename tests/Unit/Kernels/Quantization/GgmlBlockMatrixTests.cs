using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// The matrices that keep ggml blocks in their own bytes (Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, Q8_0): their values are ggml's
/// (the engine's ggml dequantizer, itself checked against ggml's reference, is the oracle), and their scalar kernels
/// equal the exact sum of those values times the INT8 activations to float rounding. The SIMD paths are held to the
/// scalar kernels bit for bit by <see cref="GgmlBlockConformance"/>.
/// </summary>
public sealed unsafe class GgmlBlockMatrixTests
{
    public static IEnumerable<object[]> Formats() => GgmlBlockConformance.Formats.Select(f => new object[] { f.Name });

    public static IEnumerable<object[]> FormatsAndShapes() =>
        from f in GgmlBlockConformance.Formats
        from shape in new (int Rows, int Columns, float Scale)[] { (8, 256, 0.01f), (11, 512, 30f), (1, 768, 1e-5f) }
        select new object[] { f.Name, shape.Rows, shape.Columns, shape.Scale };

    [Theory]
    [MemberData(nameof(FormatsAndShapes))]
    public void RowsDequantizeToGgmlsValues(string name, int rows, int columns, float dScale)
    {
        var format = GgmlBlockConformance.Named(name);
        var type = Enum.Parse<GgmlType>(name);
        var random = new Random(rows + columns);
        using var matrix = format.Create(rows, columns);
        var blocks = new byte[rows][];
        for (int r = 0; r < rows; r++)
        {
            blocks[r] = GgmlBlockConformance.RandomRow(format, columns, dScale, random);
            ((IGgmlBlockRows)matrix).SetRow(r, blocks[r]);
        }
        var expected = new float[columns];
        var actual = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            GgmlDequantizer.Dequantize(type, blocks[r], expected);
            matrix.DequantizeRow(r, actual);
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void ScalarKernelEqualsTheExactSum(string name)
    {
        const int tokens = 3, rows = 13, columns = 512;
        var format = GgmlBlockConformance.Named(name);
        var random = new Random(name.Length);
        using var matrix = GgmlBlockConformance.RandomMatrix(format, rows, columns, 0.02f, random);
        var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var actual = GgmlBlockConformance.Multiply(matrix, x, tokens, KernelPath.Scalar);

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
                    double xq = scratch.Int8[(long)t * scratch.Int8Stride + k] * (double)scratch.BlockScales[(long)t * (columns / 32) + k / 32];
                    exact += w[k] * xq;
                    magnitude += Math.Abs(w[k] * xq);
                }
                Assert.True(Math.Abs(actual[t * rows + r] - exact) <= 4e-6 * magnitude, $"token {t} row {r}: {actual[t * rows + r]} vs {exact}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void RowsThatAreNotWholeBlocksAreRefused(string name)
    {
        var format = GgmlBlockConformance.Named(name);
        Assert.Throws<ArgumentException>(() => format.Create(8, format.BlockValues + 16));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void RowsOfTheWrongLengthAreRefused(string name)
    {
        var format = GgmlBlockConformance.Named(name);
        using var matrix = format.Create(8, 256);
        var rows = (IGgmlBlockRows)matrix;
        Assert.Throws<ArgumentException>(() => rows.SetRow(0, new byte[256 / format.BlockValues * format.BlockBytes - 1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => rows.SetRow(8, new byte[256 / format.BlockValues * format.BlockBytes]));
    }
}
