using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Tests.Kernels.MatMul;

/// <summary>FP32 and FP16 weight matrices against a double-precision reference, on odd shapes and several tokens.</summary>
public sealed unsafe class FloatMatrixTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 33, 1)]
    [InlineData(13, 1025, 3)]
    [InlineData(64, 256, 5)]
    public void Float32AndFloat16MatchTheReference(int rows, int columns, int tokens)
    {
        var random = new Random(rows * columns);
        var w = Enumerable.Range(0, rows * columns).Select(_ => (float)(Half)(random.NextDouble() * 2 - 1)).ToArray();
        var x = Enumerable.Range(0, tokens * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var f32 = Float32Matrix.FromRowMajor(w, rows, columns);
        using var f16 = new Float16Matrix(rows, columns);
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < columns; k++) f16.RowSpan(r)[k] = (Half)w[r * columns + k];

        foreach (WeightMatrix matrix in new WeightMatrix[] { f32, f16 })
        {
            var y = new float[tokens * rows];
            using var scratch = new ActivationScratch();
            fixed (float* px = x)
            fixed (float* py = y)
            {
                matrix.Prepare(px, tokens, scratch);
                matrix.MultiplyRows(px, py, tokens, 0, rows, scratch);
            }
            for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double reference = 0, bound = 0;
                for (int k = 0; k < columns; k++)
                {
                    reference += (double)w[r * columns + k] * x[t * columns + k];
                    bound += Math.Abs((double)w[r * columns + k] * x[t * columns + k]);
                }
                Assert.True(Math.Abs(y[t * rows + r] - reference) <= 1e-5 * bound + 1e-7, $"{matrix.Format} token {t} row {r}: {y[t * rows + r]} vs {reference}");
            }
        }
    }
}
