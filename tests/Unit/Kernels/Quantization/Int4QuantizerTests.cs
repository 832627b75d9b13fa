using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>Quantize/dequantize round trips and dot products against FP32, with an error budget per format.</summary>
public sealed class Int4QuantizerTests
{
    private static float[] Normal(int count, int seed, float std = 0.02f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())) * std).ToArray();
    }

    public static IEnumerable<object[]> Formats() =>
        from g in new[] { 32, 64, 128, -1 } from asym in new[] { false, true } select new object[] { g, asym };

    [Theory]
    [MemberData(nameof(Formats))]
    public void RoundTripErrorIsWithinOneStepPerElementAndAQuarterStepOnAverage(int groupSize, bool asymmetric)
    {
        const int rows = 16, columns = 300; // 300: not a multiple of any group size
        var weights = Normal(rows * columns, 1);
        using var matrix = Int4Matrix.Quantize(weights, rows, columns, new Int4Format(groupSize, asymmetric));
        var view = matrix.View;
        var row = new float[columns];
        double totalRelative = 0;
        for (int r = 0; r < rows; r++)
        {
            matrix.DequantizeRow(r, row);
            for (int k = 0; k < columns; k++)
            {
                float step = MathF.Abs(view.Scale(r, k / matrix.GroupSize));
                float error = MathF.Abs(row[k] - weights[r * columns + k]);
                Assert.True(error <= step * 1.001f + 1e-9f, $"row {r} col {k}: error {error} > step {step}");
                totalRelative += error / step;
            }
        }
        double meanRelative = totalRelative / (rows * columns);
        Assert.True(meanRelative < 0.3, $"mean error {meanRelative:F3} of a step");
    }

    // Budgets follow from round-to-nearest on Gaussian weights: the step is about max|w| / 8 (symmetric) or
    // range / 15 (asymmetric), the error about step / sqrt(12); max|w| grows with the group (2.1 sigma at 32,
    // 2.7 at 128, 3.3 at 1024). Measured: 0.072, 0.105, 0.121, 0.073, 0.086.
    [Theory]
    [InlineData(32, false, 0.085)]
    [InlineData(128, false, 0.115)]
    [InlineData(-1, false, 0.135)]
    [InlineData(32, true, 0.085)]
    [InlineData(128, true, 0.10)]
    public void DotProductErrorAgainstFp32IsWithinBudget(int groupSize, bool asymmetric, double budget)
    {
        // Relative RMS error of INT4 x INT8 outputs against FP32 weights x FP32 activations.
        const int rows = 64, columns = 1024;
        var weights = Normal(rows * columns, 2);
        var x = Normal(columns, 3, 1f);
        using var matrix = Int4Matrix.Quantize(weights, rows, columns, new Int4Format(groupSize, asymmetric));
        var actual = LlmCpu.KernelCheck.KernelConformance.Multiply(matrix, x, 1, LlmCpu.Kernels.KernelDispatch.Best);
        double errorSquares = 0, referenceSquares = 0;
        for (int r = 0; r < rows; r++)
        {
            double reference = 0;
            for (int k = 0; k < columns; k++) reference += (double)weights[r * columns + k] * x[k];
            errorSquares += Math.Pow(actual[r] - reference, 2);
            referenceSquares += reference * reference;
        }
        double relative = Math.Sqrt(errorSquares / referenceSquares);
        Assert.True(relative < budget, $"relative RMS error {relative:F4} exceeds {budget}");
    }

    [Fact]
    public void SymmetricMapsTheLargestMagnitudeExactlyAndZeroToTheZeroPoint()
    {
        float[] group = [0.5f, -1f, 0f, 0.25f];
        var q = new byte[4];
        float scale = Int4Quantizer.QuantizeSymmetric(group, q);
        Assert.Equal(0.125f, scale);
        Assert.Equal(0, q[1]);                 // -1 = (0 - 8) * 0.125
        Assert.Equal(8, q[2]);                 // 0 is the zero point
        Assert.Equal(12, q[0]);                // 0.5 = (12 - 8) * 0.125
    }

    [Fact]
    public void AllZeroGroupsQuantizeToZero()
    {
        using var matrix = Int4Matrix.Quantize(new float[8 * 64], 8, 64, new Int4Format(32, true));
        var row = new float[64];
        matrix.DequantizeRow(3, row);
        Assert.All(row, v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(48)]
    [InlineData(33)]
    public void InvalidGroupSizesAreRefused(int groupSize) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Int4Matrix(8, 64, new Int4Format(groupSize, false)));
}
