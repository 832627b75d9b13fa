using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class GptqScaleRefitTests
{
    [Theory]
    [InlineData(128, false, false)]
    [InlineData(32, true, false)]
    [InlineData(64, false, true)]
    [InlineData(Int4Format.PerChannel, true, true)] // one group the width of the row: the clipping search over all of it
    public void NoRowsOutputErrorRisesAndTheMatrixsFalls(int groupSize, bool asymmetric, bool clipSearch)
    {
        const int rows = 24, columns = 256, tokens = 1024;
        const double dampening = 0.01;
        var w = RandomLayer.RandomWeights(rows, columns, 201 + groupSize);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 202);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        var format = new Int4Format(groupSize, asymmetric);
        using var plain = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ClipSearch = clipSearch, Dampening = dampening });
        using var refit = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ClipSearch = clipSearch, Dampening = dampening, RefitScales = true });
        // The refit minimizes e (H + dampening) eᵀ; each row's must not rise (computed here in double, straight from the definition).
        var damped = (double[])h.Clone();
        double mean = Enumerable.Range(0, columns).Average(i => h[i * columns + i]);
        for (int i = 0; i < columns; i++) damped[i * columns + i] += dampening * mean;
        var a = RandomLayer.Dequantized(plain);
        var b = RandomLayer.Dequantized(refit);
        double sumA = 0, sumB = 0;
        for (int r = 0; r < rows; r++)
        {
            double la = RowLoss(w, a, damped, r, columns), lb = RowLoss(w, b, damped, r, columns);
            Assert.True(lb <= la * (1 + 1e-6), $"row {r}: {lb} after the refit, {la} before");
            sumA += la;
            sumB += lb;
        }
        Assert.True(sumB < 0.99 * sumA, $"refit {sumB}, before {sumA}");
    }

    [Fact]
    public void WithOneGroupTheScaleIsTheLeastSquaresFitOfTheCodesInHsMetric()
    {
        // One group per row: the best scale for codes c is (cᵀ H w) / (cᵀ H c), rounded to FP16; one pass reaches it.
        const int columns = 64, tokens = 400;
        var w = RandomLayer.RandomWeights(1, columns, 211);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, 212);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        var codes = new byte[columns];
        var (scale, zero) = Int4Quantizer.QuantizeAsymmetric(w, codes);
        var c = codes.Select(q => (double)(q - zero)).ToArray();
        double chw = 0, chc = 0;
        for (int i = 0; i < columns; i++)
            for (int j = 0; j < columns; j++)
            {
                chw += c[i] * h[i * columns + j] * w[j];
                chc += c[i] * h[i * columns + j] * c[j];
            }
        var scales = new[] { scale };
        var hf = h.Select(v => (float)v).ToArray();
        GptqScaleRefit.Apply(w, 1, codes, scales, [zero], columns, hf, new float[GptqScaleRefit.ScratchLength(1, columns, columns)]);
        Assert.Equal((float)(Half)(chw / chc), scales[0]);
    }

    private static double RowLoss(float[] w, float[] q, double[] h, int r, int n)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double ei = w[r * n + i] - q[r * n + i];
            for (int j = 0; j < n; j++) sum += ei * h[i * n + j] * (w[r * n + j] - q[r * n + j]);
        }
        return sum;
    }
}
