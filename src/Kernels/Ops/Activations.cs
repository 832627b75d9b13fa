using System.Numerics.Tensors;

namespace LlmCpu.Kernels.Ops;

public static class Activations
{
    /// <summary>
    /// SwiGLU: destination = silu(gate) * up, with silu(x) = x * sigmoid(x). <paramref name="destination"/> may be
    /// <paramref name="gate"/> itself only when no other span overlaps it; it needs no scratch, so rows can run on
    /// several threads at once.
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        TensorPrimitives.Sigmoid(gate, destination);
        TensorPrimitives.Multiply(destination, gate, destination);
        TensorPrimitives.Multiply(destination, up, destination);
    }

    /// <summary>silu(x) = x * sigmoid(x); <paramref name="destination"/> may be <paramref name="x"/>.</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> destination)
    {
        for (int i = 0; i < x.Length; i++) destination[i] = x[i] / (1f + MathF.Exp(-x[i]));
    }

    /// <summary>Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)); <paramref name="destination"/> may be <paramref name="x"/>.</summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> destination)
    {
        for (int i = 0; i < x.Length; i++) destination[i] = 0.5f * x[i] * (1f + Erf(x[i] * 0.70710678f));
    }

    /// <summary>GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); <paramref name="destination"/> may be <paramref name="x"/>.</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> destination)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i];
            destination[i] = 0.5f * v * (1f + MathF.Tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
        }
    }

    /// <summary>
    /// The error function, by Abramowitz and Stegun's formula 7.1.26: within 1.5e-7 absolute, below float32's resolution
    /// of the 1 + erf(x) that GELU takes; evaluated in double so that rounding adds nothing to that.
    /// </summary>
    public static float Erf(float x)
    {
        double a = Math.Abs((double)x);
        double t = 1.0 / (1.0 + 0.3275911 * a);
        double y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-a * a);
        return (float)(x < 0 ? -y : y);
    }
}
