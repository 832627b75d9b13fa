using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

public sealed class Int4MatrixSetGroupTests
{
    [Fact]
    public void StoresQuantsAndScalesAsGiven()
    {
        using var matrix = new Int4Matrix(9, 64, new Int4Format(32, false));
        var quants = Enumerable.Range(0, 32).Select(i => (byte)(i % 16)).ToArray();
        matrix.SetGroup(8, 1, (Half)0.5f, quants);
        matrix.SetGroup(3, 0, (Half)(-2f), quants.Reverse().ToArray());
        var row = new float[64];
        matrix.DequantizeRow(8, row);
        Assert.All(row[..32], v => Assert.Equal(0f, v));
        Assert.Equal(quants.Select(q => (q - 8) * 0.5f), row[32..]);
        matrix.DequantizeRow(3, row);
        Assert.Equal(quants.Reverse().Select(q => (q - 8) * -2f), row[..32]);
    }

    [Fact]
    public void ValuesPastTheColumnsStayTheZeroPoint()
    {
        using var matrix = new Int4Matrix(1, 40, new Int4Format(32, false));
        matrix.SetGroup(0, 1, (Half)1f, Enumerable.Repeat((byte)15, 32).ToArray());
        var row = new float[40];
        matrix.DequantizeRow(0, row);
        Assert.All(row[32..], v => Assert.Equal(7f, v));
        // The padding columns 40..63 were written as the zero point: a product with any padded activation adds nothing.
        Assert.Equal(8, matrix.View.Quant(0, 50));
    }

    [Fact]
    public void RefusesValuesOutsideTheFormat()
    {
        using var symmetric = new Int4Matrix(1, 32, new Int4Format(32, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => symmetric.SetGroup(0, 0, (Half)1f, new byte[32], zero: 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => symmetric.SetGroup(0, 0, (Half)1f, Enumerable.Repeat((byte)16, 32).ToArray()));
        Assert.Throws<ArgumentException>(() => symmetric.SetGroup(0, 0, (Half)1f, new byte[16]));
        Assert.Throws<ArgumentOutOfRangeException>(() => symmetric.SetGroup(1, 0, (Half)1f, new byte[32]));
        using var asymmetric = new Int4Matrix(1, 32, new Int4Format(32, true));
        asymmetric.SetGroup(0, 0, (Half)1f, Enumerable.Repeat((byte)5, 32).ToArray(), zero: 3);
        var row = new float[32];
        asymmetric.DequantizeRow(0, row);
        Assert.All(row, v => Assert.Equal(2f, v));
    }
}
