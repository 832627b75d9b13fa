using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// The check that lets the kernels widen an INT4 matrix's scales without the infinity and NaN fix-up: made once, and
/// made again after every kind of write, so a scale damaged after a multiplication still gives non-finite results.
/// </summary>
public sealed class Int4MatrixScaleCheckTests
{
    [Fact]
    public void ADamagedScaleAfterAMultiplicationMakesItsRowInfinite()
    {
        var (weights, x) = KernelConformance.MakeInputs("random", 16, 64, 1, seed: 5);
        using var matrix = Int4Matrix.Quantize(weights, 16, 64, new Int4Format(32, false));
        Assert.All(KernelConformance.Multiply(matrix, x, 1, KernelDispatch.Best), v => Assert.True(float.IsFinite(v)));
        Assert.True(matrix.ScalesFinite);

        var codes = Enumerable.Range(0, 32).Select(k => (byte)matrix.View.Quant(3, k)).ToArray();
        matrix.SetGroup(3, 0, Half.PositiveInfinity, codes);
        Assert.False(matrix.ScalesFinite);
        var output = KernelConformance.Multiply(matrix, x, 1, KernelDispatch.Best);
        Assert.False(float.IsFinite(output[3]));
        Assert.All(output.Where((_, row) => row != 3), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void EveryWriteAsksForTheCheckAgain()
    {
        using var matrix = new Int4Matrix(8, 32, new Int4Format(32, false));
        Assert.True(matrix.ScalesFinite);
        var q4_0 = new byte[18];
        BitConverter.TryWriteBytes(q4_0, Half.NaN);
        matrix.SetQ4_0Row(2, q4_0);
        Assert.False(matrix.ScalesFinite);
        matrix.QuantizeRow(2, new float[32]);
        Assert.True(matrix.ScalesFinite);
    }
}
