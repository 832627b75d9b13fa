using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class StraightThroughRoundingTests
{
    private static float[] RandomGroup(Random random, int n)
    {
        var x = new float[n];
        for (int k = 0; k < n; k++) x[k] = (float)((random.NextDouble() * 2 - 1) * (random.Next(10) == 0 ? 3 : 1));
        return x;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithoutOffsetsOrClippingItIsRoundToNearest(bool asymmetric)
    {
        var random = new Random(3);
        var codes = new byte[32];
        var expected = new byte[32];
        var fq = new float[32];
        for (int trial = 0; trial < 200; trial++)
        {
            var x = trial == 0 ? new float[32] : RandomGroup(random, 32);
            if (trial % 7 == 1) for (int k = 0; k < x.Length; k++) x[k] = MathF.Abs(x[k]); // no negative values: lo = 0
            var g = StraightThroughRounding.Forward(x, default, 1f, 1f, asymmetric, codes, fq);
            var (scale, zero) = Int4Quantizer.Quantize(x, expected, asymmetric, Int4Recipe.RoundToNearest);
            Assert.Equal(expected, codes);
            Assert.Equal(scale, g.Scale);
            Assert.Equal(zero, g.Zero);
            for (int k = 0; k < x.Length; k++) Assert.Equal((codes[k] - zero) * scale, fq[k]);
        }
    }

    /// <summary>
    /// The quantized group with every rounding replaced by the identity plus the residual it had at the base point
    /// (and clamped values held at their end of the range): what the straight-through gradient differentiates. In
    /// double, with the unrounded scale.
    /// </summary>
    private static double[] Surrogate(float[] x, float[] v, double alpha, double beta, bool asymmetric, float[] baseX, float[] baseV, float baseAlpha, float baseBeta)
    {
        var codes = new byte[x.Length];
        var fq = new float[x.Length];
        var b = StraightThroughRounding.Forward(baseX, baseV, baseAlpha, baseBeta, asymmetric, codes, fq);
        var result = new double[x.Length];
        if (!asymmetric)
        {
            double d = alpha * x[b.LowIndex] / -8;
            for (int k = 0; k < x.Length; k++)
            {
                double unrounded = baseX[k] / (double)b.Scale + baseV[k] + 8;
                bool clamped = unrounded < -0.5 || unrounded >= 15.5;
                double residual = codes[k] - unrounded;
                result[k] = clamped ? d * (codes[k] - 8) : d * (x[k] / d + v[k] + residual);
            }
            return result;
        }
        double lo = alpha * Math.Min(0, b.LowIndex >= 0 ? x[b.LowIndex] : 0), hi = beta * Math.Max(0, b.HighIndex >= 0 ? x[b.HighIndex] : 0);
        double s = (hi - lo) / 15;
        double zeroResidual = b.Zero - -(baseAlpha * (double)b.Low) / b.Scale;
        double zero = -lo / s + zeroResidual;
        for (int k = 0; k < x.Length; k++)
        {
            double unrounded = baseX[k] / (double)b.Scale + baseV[k] + b.Zero;
            bool clamped = unrounded < -0.5 || unrounded >= 15.5;
            double residual = codes[k] - unrounded;
            result[k] = clamped ? s * (codes[k] - zero) : s * (x[k] / s + v[k] + residual);
        }
        return result;
    }

    [Theory]
    [InlineData(false, 1f, 1f)]
    [InlineData(false, 0.8f, 1f)]
    [InlineData(true, 1f, 1f)]
    [InlineData(true, 0.7f, 0.85f)]
    public void TheGradientIsTheDerivativeWithTheRoundingResidualsHeld(bool asymmetric, float alpha, float beta)
    {
        var random = new Random(asymmetric ? 5 : 6);
        const int n = 32;
        var x = RandomGroup(random, n);
        var v = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5) * 0.6f).ToArray();
        var weight = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(); // loss = Σ weight · fq
        var codes = new byte[n];
        var fq = new float[n];
        var g = StraightThroughRounding.Forward(x, v, alpha, beta, asymmetric, codes, fq);
        var gradV = new float[n];
        var gradX = new float[n];
        var (gradAlpha, gradBeta) = StraightThroughRounding.Backward(g, x, v, alpha, beta, asymmetric, codes, weight, gradV, gradX);

        double Loss(float[] xx, float[] vv, double a, double b) =>
            Surrogate(xx, vv, a, b, asymmetric, x, v, alpha, beta).Zip(weight, (f, w) => f * w).Sum();
        const double h = 1e-3;
        void Check(double analytic, double numeric, string what) =>
            Assert.True(Math.Abs(analytic - numeric) <= 1e-2 * (Math.Abs(numeric) + 1e-2), $"{what}: analytic {analytic}, numeric {numeric}");
        Check(gradAlpha, (Loss(x, v, alpha + h, beta) - Loss(x, v, alpha - h, beta)) / (2 * h), "alpha");
        if (asymmetric) Check(gradBeta, (Loss(x, v, alpha, beta + h) - Loss(x, v, alpha, beta - h)) / (2 * h), "beta");
        for (int k = 0; k < n; k++)
        {
            var vp = (float[])v.Clone(); vp[k] += (float)h;
            var vm = (float[])v.Clone(); vm[k] -= (float)h;
            Check(gradV[k], (Loss(x, vp, alpha, beta) - Loss(x, vm, alpha, beta)) / (vp[k] - vm[k]), $"v[{k}]");
            var xp = (float[])x.Clone(); xp[k] += (float)h;
            var xm = (float[])x.Clone(); xm[k] -= (float)h;
            Check(gradX[k], (Loss(xp, v, alpha, beta) - Loss(xm, v, alpha, beta)) / (xp[k] - xm[k]), $"x[{k}]");
        }
    }

    [Fact]
    public void TheReconstructionLossAndItsGradientMatchTheDefinition()
    {
        const int n = 48, rows = 3;
        var h = LinearAlgebraReference.RandomSpd(n, 9);
        var random = new Random(10);
        var w = Enumerable.Range(0, rows * n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var q = w.Select(v => v + (float)(random.NextDouble() - 0.5) * 0.1f).ToArray();
        var error = new float[rows * n];
        var gradient = new float[rows * n];
        var losses = new double[rows];
        QuadraticError.WithGradient(w, q, rows, QuadraticError.ToFloat(h), error, gradient, losses);
        for (int r = 0; r < rows; r++)
        {
            double expected = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) expected += (w[r * n + i] - (double)q[r * n + i]) * h[i * n + j] * (w[r * n + j] - (double)q[r * n + j]);
            Assert.Equal(expected, losses[r], expected * 1e-4);
            for (int i = 0; i < n; i++)
            {
                double g = 0;
                for (int j = 0; j < n; j++) g += -2 * h[i * n + j] * (w[r * n + j] - (double)q[r * n + j]);
                Assert.True(Math.Abs(g - gradient[r * n + i]) <= 1e-4 * (1 + Math.Abs(g)), $"row {r}, {i}: {gradient[r * n + i]} vs {g}");
            }
        }
    }
}
