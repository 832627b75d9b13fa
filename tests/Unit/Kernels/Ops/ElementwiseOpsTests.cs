using LlmCpu.Kernels.Ops;

namespace LlmCpu.Tests.Kernels.Ops;

/// <summary>RMSNorm, rotary embedding and SwiGLU against plain double-precision implementations on random inputs.</summary>
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
        var actual = (float[])gate.Clone();
        Activations.SwiGlu(gate, up, actual);
        for (int i = 0; i < length; i++)
        {
            double g = gate[i];
            double expected = g / (1 + Math.Exp(-g)) * up[i];
            Assert.True(Math.Abs(actual[i] - expected) <= 1e-5 * (Math.Abs(expected) + 1e-4), $"element {i}: {actual[i]} vs {expected}");
        }
    }
}
