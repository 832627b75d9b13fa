using LlmCpu.Kernels.Ops;

namespace LlmCpu.Tests.Kernels.Ops;

/// <summary>RMSNorm, rotary embedding and the feed-forward activations against plain double-precision implementations on random inputs.</summary>
public sealed class ElementwiseOpsTests
{
    private static float[] RandomVector(Random random, int length, double spread) =>
        Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() * 2 - 1) * spread)).ToArray();

    [Theory]
    [InlineData(1, 1e-5f, 1.0)]
    [InlineData(7, 1e-6f, 0.01)]
    [InlineData(256, 1e-5f, 3.0)]
    [InlineData(2048, 1e-6f, 200.0)]
    [InlineData(4099, 1e-5f, 1e-3)]
    public void RmsNormMatchesTheDoubleReference(int length, float eps, double spread)
    {
        var random = new Random(length);
        var x = RandomVector(random, length, spread);
        var weight = RandomVector(random, length, 2);
        var actual = new float[length];
        Normalization.RmsNorm(x, weight, actual, eps);
        double meanSquare = x.Sum(v => (double)v * v) / length;
        double scale = 1 / Math.Sqrt(meanSquare + eps);
        for (int i = 0; i < length; i++)
        {
            double expected = x[i] * scale * weight[i];
            Assert.True(Math.Abs(actual[i] - expected) <= 1e-5 * (Math.Abs(expected) + 1e-3), $"element {i}: {actual[i]} vs {expected}");
        }
    }

    [Theory]
    [InlineData(64, 10000f, 0)]
    [InlineData(64, 10000f, 1)]
    [InlineData(128, 500000f, 4095)]
    [InlineData(32, 10000f, 257)]
    [InlineData(6, 10000f, 100)]
    public void RotaryEmbeddingRotatesHalfPairsByTheReferenceAngles(int headDim, float theta, int position)
    {
        const int heads = 3;
        var random = new Random(headDim + position);
        var x = RandomVector(random, heads * headDim, 2);
        var actual = (float[])x.Clone();
        new RotaryEmbedding(headDim, position + 1, theta).Apply(actual, position);
        int half = headDim / 2;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < half; i++)
            {
                // Hugging Face Llama: inverse frequency theta^(-2i/d) in float32, angle position * frequency.
                double frequency = 1 / Math.Pow(theta, 2.0 * i / headDim);
                double angle = position * frequency;
                double x1 = x[h * headDim + i], x2 = x[h * headDim + i + half];
                double expected1 = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
                double expected2 = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
                // float32 angles at position p carry an error of about p * 2^-24 radians.
                double tolerance = 1e-5 + 4 * position * Math.Pow(2, -24) * (Math.Abs(x1) + Math.Abs(x2));
                Assert.True(Math.Abs(actual[h * headDim + i] - expected1) <= tolerance, $"head {h} dim {i}: {actual[h * headDim + i]} vs {expected1}");
                Assert.True(Math.Abs(actual[h * headDim + i + half] - expected2) <= tolerance, $"head {h} dim {i + half}");
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(5632)]
    public void SwiGluMatchesTheDoubleReference(int length)
    {
        var random = new Random(length);
        var gate = RandomVector(random, length, 30);
        var up = RandomVector(random, length, 3);
        var actual = new float[length];
        Activations.SwiGlu(gate, up, actual);
        for (int i = 0; i < length; i++)
        {
            double g = gate[i];
            double expected = g / (1 + Math.Exp(-g)) * up[i];
            Assert.True(Math.Abs(actual[i] - expected) <= 1e-5 * (Math.Abs(expected) + 1e-4), $"element {i}: {actual[i]} vs {expected}");
        }
    }

    [Fact]
    public void SwiGluRefusesADestinationOverAnInput()
    {
        var gate = new float[8];
        var up = new float[8];
        Assert.Throws<ArgumentException>(() => Activations.SwiGlu(gate, up, gate));
        Assert.Throws<ArgumentException>(() => Activations.SwiGlu(gate, up, up.AsSpan()));
    }

    /// <summary>
    /// Values of a layer's pre-activations: mostly within a few units, some far out where the functions saturate or
    /// underflow, and the edges: zeros of both signs, the largest floats, infinities.
    /// </summary>
    private static float[] ActivationInputs(int length)
    {
        var random = new Random(length);
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)((random.NextDouble() * 2 - 1) * (random.Next(8) == 0 ? 40 : 4));
        float[] edges = [0f, -0f, 1e-30f, -1e-30f, 88f, -88f, 104f, -104f, float.MaxValue, -float.MaxValue, float.PositiveInfinity, 1e-4f, -1e-4f];
        for (int i = 0; i < Math.Min(length, edges.Length); i++) x[(i * 7919) % length] = edges[i];
        return x;
    }

    /// <summary>
    /// 1 + erf(z) in double: by erf's Taylor series below |z| = 2.5 (exact to about 1e-13 there), and beyond by erfc's
    /// continued fraction (Lentz's form summed from 300 terms up), which keeps the far negative tail's relative
    /// precision where 1 + erf is a difference of nearly equal numbers.
    /// </summary>
    private static double ReferenceOnePlusErf(double z)
    {
        double a = Math.Abs(z);
        if (a < 2.5)
        {
            double term = z, sum = z;
            for (int n = 1; n < 200; n++)
            {
                term *= -z * z / n;
                sum += term / (2 * n + 1);
            }
            return 1 + 2 / Math.Sqrt(Math.PI) * sum;
        }
        // erfc(a) = e^(-a^2) / sqrt(pi) / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...)))))
        double f = a;
        for (int k = 300; k >= 1; k--) f = a + k / 2.0 / f;
        double erfc = Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        return z < 0 ? erfc : 2 - erfc;
    }

    public static TheoryData<string, int> ActivationCases()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in new[] { "silu", "gelu", "gelu-tanh" })
        foreach (int length in new[] { 1, 13, 1024, 1500, 5635 })
            data.Add(name, length);
        return data;
    }

    /// <summary>
    /// The function, its double reference, and its tolerance at x given the expected value: 2e-6 relative, and what the
    /// float evaluation cannot avoid on top.
    /// </summary>
    private static (Action<float[], float[]> Apply, Func<double, double> Reference, Func<double, double, double> Tolerance) Activation(string name) => name switch
    {
        "silu" => ((x, y) => Activations.Silu(x, y), v => v / (1 + Math.Exp(-v)), (_, e) => 2e-6 * Math.Abs(e)),
        // Abramowitz and Stegun's erf is within 1.5e-7 of the true one: 0.75e-7 |x| in GELU, with float rounding 2e-7 |x|.
        "gelu" => ((x, y) => Activations.Gelu(x, y), v => 0.5 * v * ReferenceOnePlusErf(v / Math.Sqrt(2)), (v, e) => 2e-6 * Math.Abs(e) + 2e-7 * Math.Abs(v)),
        // 0.5 (1 + tanh u) written as 1 / (1 + e^(-2u)), its equal: 1 + tanh(u) in double cancels to nothing below u = -19.
        // The argument 2u is rounded to float (a few units in its last place), which e^(-2u) turns into a relative error
        // of that many times |2u| ulps.
        _ => ((x, y) => Activations.GeluTanh(x, y), v => v / (1 + Math.Exp(-TwiceTanhArgument(v))), (v, e) => (2e-6 + 4 * 6e-8 * Math.Abs(TwiceTanhArgument(v))) * Math.Abs(e)),
    };

    private static double TwiceTanhArgument(double v) => 2 * Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v);

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void ActivationsMatchTheDoubleReference(string name, int length)
    {
        var (apply, reference, tolerance) = Activation(name);
        var x = ActivationInputs(length);
        var actual = new float[length];
        apply(x, actual);
        for (int i = 0; i < length; i++)
        {
            double expected = reference(x[i]);
            if (double.IsInfinity(expected) || double.IsNaN(expected))
            {
                Assert.True(actual[i].Equals((float)expected) || (float.IsNaN(actual[i]) && double.IsNaN(expected)), $"{name}({x[i]}) = {actual[i]}, not {expected}");
                continue;
            }
            // Below float's smallest normal number (1.2e-38) results may flush or round as subnormals do.
            Assert.True(Math.Abs(actual[i] - expected) <= tolerance(x[i], expected) + 1e-37, $"{name}({x[i]:R}) = {actual[i]:R}, not {expected:R}");
        }
    }

    [Theory]
    [MemberData(nameof(ActivationCases))]
    public void ActivationsMayWriteOverTheirInput(string name, int length)
    {
        var (apply, _, _) = Activation(name);
        var x = ActivationInputs(length);
        var expected = new float[length];
        apply(x, expected);
        apply(x, x);
        Assert.Equal(expected, x);
    }

    [Fact]
    public void ActivationsRejectOperandsOfDifferentLengths()
    {
        Assert.Throws<ArgumentException>(() => Activations.Gelu(new float[4], new float[3]));
        Assert.Throws<ArgumentException>(() => Activations.SwiGlu(new float[4], new float[4], new float[5]));
    }
}
