using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class HessianAccumulatorTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(96)]
    public void BatchesSumToTwiceXTransposeXOverTokensAndTheMeanAbsoluteValue(int columns)
    {
        var random = new Random(columns);
        int[] batches = [5, 1, 33];
        var accumulator = new HessianAccumulator(columns);
        var all = new List<float[]>();
        foreach (int tokens in batches)
        {
            var x = new float[tokens * columns];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 4 - 2);
            accumulator.Add(x, tokens, WorkerPool.Shared);
            for (int t = 0; t < tokens; t++) all.Add(x.AsSpan(t * columns, columns).ToArray());
        }
        Assert.Equal(all.Count, accumulator.Tokens);
        var h = accumulator.Hessian();
        var mean = accumulator.MeanAbsolute();
        for (int i = 0; i < columns; i++)
        {
            Assert.Equal(all.Average(row => Math.Abs((double)row[i])), mean[i], 1e-5);
            for (int j = 0; j < columns; j++)
            {
                double expected = 2 * all.Sum(row => (double)row[i] * row[j]) / all.Count;
                Assert.True(Math.Abs(h[i * columns + j] - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"({i},{j}): {h[i * columns + j]} vs {expected}");
            }
        }
    }

    /// <summary>
    /// TakeHessian hands over the sums' own array as the Hessian: equal to Hessian() element for element; after it the
    /// accumulator refuses more input and another Hessian, and still gives the mean |x|.
    /// </summary>
    [Fact]
    public void TakingTheHessianGivesTheSameMatrixAndEndsTheSums()
    {
        const int columns = 37;
        var random = new Random(5);
        var accumulator = new HessianAccumulator(columns);
        var x = new float[70 * columns];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 4 - 2);
        accumulator.Add(x, 70, WorkerPool.Shared);
        var expected = accumulator.Hessian();
        var mean = accumulator.MeanAbsolute();
        var taken = accumulator.TakeHessian();
        Assert.Equal(expected, taken);
        Assert.Throws<InvalidOperationException>(() => accumulator.Hessian());
        Assert.Throws<InvalidOperationException>(() => accumulator.TakeHessian());
        Assert.Throws<InvalidOperationException>(() => accumulator.Add(x, 70, WorkerPool.Shared));
        Assert.Equal(mean, accumulator.MeanAbsolute());
    }

    /// <summary>
    /// Against sums taken in double straight from the definition. Each batch's sum is taken in float (each product
    /// rounded, then each addition) over at most <see cref="HessianAccumulator.SlabTokens"/> tokens before it enters
    /// the double total, so an element's error is at most about (T + 1) · 2⁻²⁴ · Σ |x_i x_j| over a batch of T (the
    /// bound for recursive summation, plus the products' own rounding); the double additions add nothing visible at
    /// that scale. The test allows that bound (times 1.01 for its second-order term) and no more: it is far tighter than
    /// the sums' own size whenever terms cancel, and a tile summed twice, skipped, or added to the wrong element exceeds it.
    /// </summary>
    [Theory]
    [InlineData(1, "random")]
    [InlineData(7, "random")]
    [InlineData(16, "random")]
    [InlineData(33, "random")]
    [InlineData(100, "random")]
    [InlineData(257, "random")]
    [InlineData(40, "zeros")]
    [InlineData(41, "large")]
    [InlineData(50, "mixed")]
    [InlineData(23, "cancelling")]
    public void TheSumsAreXTransposeXWithinFloatRoundingOfEachBatch(int columns, string kind)
    {
        var random = new Random(columns * 31 + kind.Length);
        int[] batches = [1, 3, 64, 65, 300];  // 300: past one slab of 256
        var accumulator = new HessianAccumulator(columns);
        var all = new List<float[]>();
        foreach (int tokens in batches)
        {
            var x = new float[tokens * columns];
            for (int i = 0; i < x.Length; i++)
            {
                float v = random.NextSingle() * 2 - 1;
                x[i] = kind switch
                {
                    "zeros" => i % 3 == 0 ? v : 0,
                    "large" => v * 1e15f,
                    "mixed" => v * (i % columns % 4 == 0 ? 1e4f : 1e-4f),
                    // Products of odd and even columns alternate in sign from token to token: their sums nearly cancel.
                    "cancelling" => (i / columns % 2 == 0 || i % columns % 2 == 0 ? 1 : -1) * (1 + v * 1e-3f),
                    _ => v,
                };
            }
            accumulator.Add(x, tokens, WorkerPool.Shared);
            all.AddRange(Enumerable.Range(0, tokens).Select(t => x.AsSpan(t * columns, columns).ToArray()));
        }
        var h = accumulator.Hessian();
        double factor = 2.0 / all.Count;
        for (int i = 0; i < columns; i++)
            for (int j = 0; j <= i; j++)
            {
                double exact = 0, bound = 0;
                int offset = 0;
                foreach (int tokens in batches)
                {
                    for (int t0 = 0; t0 < tokens; t0 += HessianAccumulator.SlabTokens)
                    {
                        int slab = Math.Min(HessianAccumulator.SlabTokens, tokens - t0);
                        double magnitude = 0;
                        for (int t = offset + t0; t < offset + t0 + slab; t++)
                        {
                            exact += (double)all[t][i] * all[t][j];
                            magnitude += Math.Abs((double)all[t][i] * all[t][j]);
                        }
                        bound += 1.01 * (slab + 1) * Math.Pow(2, -24) * magnitude;
                    }
                    offset += tokens;
                }
                Assert.True(Math.Abs(h[i * columns + j] - factor * exact) <= factor * bound + 1e-300, $"({i},{j}): {h[i * columns + j]} vs {factor * exact}, bound {factor * bound}");
                Assert.Equal(h[i * columns + j], h[j * columns + i]);
                if (kind == "zeros" && all.All(row => row[i] == 0 || row[j] == 0)) Assert.Equal(0, h[i * columns + j]);
            }
    }

    /// <summary>The sums do not depend on the vector width (AVX-512, AVX2, scalar) nor on how many threads share the work.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(70)]
    public unsafe void EveryVectorWidthAndThreadCountGivesTheSameBits(int columns)
    {
        var random = new Random(columns);
        const int tokens = 37;
        var x = new float[tokens * columns];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle() * 2 - 1;
        var packed = new float[SymmetricRankUpdate.PackedLength(tokens, columns)];
        double[] Sums(int width)
        {
            var sums = new double[columns * columns];
            fixed (float* xp = x, pp = packed)
            fixed (double* sp = sums)
            {
                SymmetricRankUpdate.Pack(xp, tokens, columns, pp);
                for (int block = 0; block < SymmetricRankUpdate.RowBlocks(columns); block++)
                    SymmetricRankUpdate.AddRowBlock(pp, tokens, columns, block, sp, width);
            }
            return sums;
        }
        var wide = Sums(16);
        Assert.Equal(wide, Sums(8));
        Assert.Equal(wide, Sums(1));
        double[] Pooled(int threads)
        {
            using var pool = new WorkerPool(threads);
            var accumulator = new HessianAccumulator(columns);
            accumulator.Add(x, tokens, pool);
            return accumulator.Hessian();
        }
        var one = Pooled(1);
        Assert.Equal(one, Pooled(2));
        Assert.Equal(one, Pooled(3));
        for (int i = 0; i < columns; i++)
            for (int j = 0; j <= i; j++) Assert.Equal(wide[i * columns + j] * (2.0 / tokens), one[i * columns + j]);
    }

    /// <summary>
    /// Bit for bit the straightforward loop: for each row i of the triangle, x_i · x[0..i] added to a float row token by
    /// token (each product rounded, then added), the row then added to the double sums, batch by batch. That is how the
    /// sums were taken before the tiled kernel, so GPTQ and AWQ see exactly the Hessians they saw.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(19)]
    [InlineData(64)]
    [InlineData(131)]
    public void TheSumsAreBitForBitTheRowByRowFloatLoop(int columns)
    {
        var random = new Random(columns + 5);
        int[] batches = [64, 1, 37, 256, 64];
        var accumulator = new HessianAccumulator(columns);
        var expected = new double[columns * columns];
        int total = 0;
        foreach (int tokens in batches)
        {
            var x = new float[tokens * columns];
            for (int i = 0; i < x.Length; i++) x[i] = (random.NextSingle() * 2 - 1) * (i % 7 == 0 ? 30 : 1) * (i % 11 == 0 ? 0 : 1);
            accumulator.Add(x, tokens, WorkerPool.Shared);
            for (int i = 0; i < columns; i++)
            {
                var sum = new float[i + 1];
                for (int t = 0; t < tokens; t++)
                {
                    float xi = x[t * columns + i];
                    for (int j = 0; j <= i; j++)
                    {
                        float product = x[t * columns + j] * xi;
                        sum[j] += product;
                    }
                }
                for (int j = 0; j <= i; j++) expected[i * columns + j] += sum[j];
            }
            total += tokens;
        }
        var h = accumulator.Hessian();
        for (int i = 0; i < columns; i++)
            for (int j = 0; j <= i; j++) Assert.Equal(expected[i * columns + j] * (2.0 / total), h[i * columns + j]);
    }
}
