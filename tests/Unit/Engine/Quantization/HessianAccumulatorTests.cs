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
}
