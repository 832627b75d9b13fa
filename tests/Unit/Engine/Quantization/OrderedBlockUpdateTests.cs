using LlmCpu.Engine.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed unsafe class OrderedBlockUpdateTests
{
    /// <summary>
    /// The product must update every element exactly as subtracting its terms one column of B at a time does
    /// (ScaledSubtraction, k in order): GPTQ's results then do not depend on the lazy block size. Sizes off every tile
    /// (rows not a multiple of 4, columns not a multiple of 64 or 16, a depth past one 128-deep slice), strides wider
    /// than the rows, and every vector width.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1, 16)]
    [InlineData(13, 7, 79, 16)]
    [InlineData(32, 128, 200, 16)]
    [InlineData(6, 300, 130, 16)]
    [InlineData(13, 7, 79, 8)]
    [InlineData(9, 130, 45, 8)]
    [InlineData(5, 20, 37, 1)]
    public void ItIsBitForBitTheColumnAtATimeUpdate(int rows, int depth, int n, int width)
    {
        var random = new Random(rows * 1000 + depth + n);
        int ldc = n + 3, lda = depth + 2, ldb = n + 5;
        var c = Random(random, rows * ldc, 1);
        var a = Random(random, rows * lda, 0.3f);
        var b = Random(random, depth * ldb, 0.7f);
        for (int i = 0; i < a.Length; i += 11) a[i] = 0;  // zero errors (a column rounded exactly) change nothing, as in the reference
        var expected = (float[])c.Clone();
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < depth; k++)
                ScaledSubtraction.Apply(expected.AsSpan(r * ldc, n), a[r * lda + k], b.AsSpan(k * ldb, n));
        fixed (float* cp = c, ap = a, bp = b)
            OrderedBlockUpdate.Subtract(cp, ldc, ap, lda, bp, ldb, rows, depth, n, width);
        Assert.Equal(expected, c);  // the padding past n in each row included: untouched on both sides

        // And it is the product: against a double reference, to float rounding over the depth.
        var start = Random(new Random(rows * 1000 + depth + n), rows * ldc, 1);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < n; j++)
            {
                double exact = start[r * ldc + j], magnitude = Math.Abs(exact);
                for (int k = 0; k < depth; k++)
                {
                    exact -= (double)a[r * lda + k] * b[k * ldb + j];
                    magnitude += Math.Abs((double)a[r * lda + k] * b[k * ldb + j]);
                }
                Assert.True(Math.Abs(c[r * ldc + j] - exact) <= 2 * (depth + 1) * magnitude * Math.Pow(2, -24), $"({r},{j}): {c[r * ldc + j]} vs {exact}");
            }
    }

    private static float[] Random(Random random, int length, float scale)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = (random.NextSingle() * 2 - 1) * scale;
        return values;
    }
}
