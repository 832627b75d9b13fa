using LlmCpu.KernelCheck;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Kernels.MatMul;

/// <summary>A stack of parts in different formats computes exactly what each part computes on its own.</summary>
public sealed unsafe class StackedMatrixTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(20)]
    public void EachPartsRowsAreThePartsOwnResults(int tokens)
    {
        const int columns = 512;
        var random = new Random(tokens);
        var weights = Enumerable.Range(0, 24 * columns).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var q4k = GgmlBlockConformance.RandomMatrix(GgmlBlockConformance.Named("Q4_K"), 16, columns, 0.02f, new Random(99));
        var int4 = Int4Matrix.Quantize(weights, 24, columns, new Int4Format(32, false));
        var q4kAlone = GgmlBlockConformance.RandomMatrix(GgmlBlockConformance.Named("Q4_K"), 16, columns, 0.02f, new Random(99));
        var int4Alone = Int4Matrix.Quantize(weights, 24, columns, new Int4Format(32, false));
        using var stacked = new StackedMatrix([q4k, int4]);
        Assert.Equal(40, stacked.Rows);
        var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        var expected = Multiply(q4kAlone, x, tokens).Chunk(16).Zip(Multiply(int4Alone, x, tokens).Chunk(24), (a, b) => a.Concat(b)).SelectMany(v => v).ToArray();
        Assert.Equal(expected, Multiply(stacked, x, tokens));
        q4kAlone.Dispose();
        int4Alone.Dispose();
    }

    [Fact]
    public void PartsReadingDifferentActivationsAreRefused()
    {
        using var int8 = new Int4Matrix(8, 64, new Int4Format(32, false));
        using var float32 = new Float32Matrix(8, 64);
        Assert.Throws<ArgumentException>(() => new StackedMatrix([int8, float32]));
    }

    private static float[] Multiply(WeightMatrix matrix, float[] x, int tokens)
    {
        var y = new float[tokens * matrix.Rows];
        using var pool = new WorkerPool(2);
        using var runner = new MatMulRunner(pool);
        fixed (float* px = x)
        fixed (float* py = y)
            runner.Multiply(matrix, px, py, tokens);
        return y;
    }
}
