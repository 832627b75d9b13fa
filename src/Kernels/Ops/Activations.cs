using System.Numerics;
using System.Numerics.Tensors;

namespace LlmCpu.Kernels.Ops;

/// <summary>
/// The feed-forward activations, each a few <see cref="TensorPrimitives"/> passes over blocks small enough to stay in
/// L1 (<see cref="Block"/> values through a stack scratch), so that every pass is vectorized at the processor's width
/// and the block is read from memory once. One element at a time, GELU took 11 ns a value and its tanh form 12-17
/// (AMD Zen 5, bench <c>activation</c>): 10-13 ms of every decode step of a GPT-J-6B shape (<c>batch-profile</c>).
/// </summary>
public static class Activations
{
    /// <summary>Values a pass takes: up to three 4 KB scratch rows and the operands' blocks fit in a 48 KB L1 with room to spare.</summary>
    private const int Block = 1024;

    /// <summary>Abramowitz and Stegun 7.1.26's constants: erf(z) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) e^(-z^2), t = 1 / (1 + p z).</summary>
    private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    /// <summary>sqrt(2 / pi): GELU's tanh form is tanh(sqrt(2/pi) (x + 0.044715 x^3)).</summary>
    private const float TanhScale = 0.7978845608f, TanhCubic = 0.044715f;

    /// <summary>
    /// SwiGLU: destination = silu(gate) * up, with silu(x) = x * sigmoid(x), in three whole-row passes (the Llama
    /// family's hot path: blocked as the others are, it measured 5% slower). <paramref name="destination"/> must overlap
    /// neither input: the first pass writes it before the second reads the gate. It needs no scratch, so rows can run
    /// on several threads at once.
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        CheckLengths(gate.Length, up.Length, destination.Length);
        if (destination.Overlaps(gate) || destination.Overlaps(up))
            throw new ArgumentException("SwiGLU's destination must not overlap its inputs.", nameof(destination));
        TensorPrimitives.Sigmoid(gate, destination);
        TensorPrimitives.Multiply(destination, gate, destination);
        TensorPrimitives.Multiply(destination, up, destination);
    }

    /// <summary>silu(x) = x * sigmoid(x); <paramref name="destination"/> may be <paramref name="x"/>.</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> destination) => TimesSigmoid(x, destination, tanhGelu: false);

    /// <summary>
    /// Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), erf by Abramowitz and Stegun's formula 7.1.26 (within
    /// 1.5e-7 absolute, below float32's resolution of 1 + erf). For x below zero 1 + erf is the formula's remainder
    /// t P(t) e^(-z^2) itself, not 1 minus a number near 1, so no cancellation adds to the formula's error there.
    /// <paramref name="destination"/> may be <paramref name="x"/>.
    /// </summary>
    public static void Gelu(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckLengths(x.Length, x.Length, destination.Length);
        Span<float> scratch = stackalloc float[3 * Block];
        for (int i = 0; i < x.Length; i += Block)
        {
            int n = Math.Min(Block, x.Length - i);
            var v = x.Slice(i, n);
            var z = scratch.Slice(0, n);
            var t = scratch.Slice(Block, n);
            var poly = scratch.Slice(2 * Block, n);
            TensorPrimitives.Abs(v, z);
            TensorPrimitives.Multiply(z, 1 / MathF.Sqrt(2), z);     // z = |x| / sqrt 2
            TensorPrimitives.Multiply(z, P, t);
            TensorPrimitives.Add(t, 1f, t);
            TensorPrimitives.Reciprocal(t, t);                      // t = 1 / (1 + p z)
            TensorPrimitives.Multiply(t, A5, poly);
            TensorPrimitives.Add(poly, A4, poly);
            TensorPrimitives.MultiplyAdd(poly, t, A3, poly);
            TensorPrimitives.MultiplyAdd(poly, t, A2, poly);
            TensorPrimitives.MultiplyAdd(poly, t, A1, poly);
            TensorPrimitives.Multiply(poly, t, poly);               // t P(t)
            TensorPrimitives.Multiply(z, z, z);
            TensorPrimitives.Negate(z, z);
            TensorPrimitives.Exp(z, z);
            TensorPrimitives.Multiply(z, poly, z);                  // z = 1 - erf(|x| / sqrt 2)
            FinishGelu(v, z, destination.Slice(i, n));
        }
    }

    /// <summary>GELU's tanh approximation, 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3); <paramref name="destination"/> may be <paramref name="x"/>.</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> destination) => TimesSigmoid(x, destination, tanhGelu: true);

    /// <summary>destination = x sigmoid(a), a being x (SiLU) or tanh GELU's 2u, a block at a time.</summary>
    private static void TimesSigmoid(ReadOnlySpan<float> x, Span<float> destination, bool tanhGelu)
    {
        CheckLengths(x.Length, x.Length, destination.Length);
        Span<float> s = stackalloc float[Block];
        for (int i = 0; i < x.Length; i += Block)
        {
            int n = Math.Min(Block, x.Length - i);
            var v = x.Slice(i, n);
            var a = s[..n];
            if (tanhGelu)
            {
                TensorPrimitives.Multiply(v, v, a);
                TensorPrimitives.Multiply(a, v, a);
                TensorPrimitives.MultiplyAdd(a, TanhCubic, v, a);       // x + 0.044715 x^3
                TensorPrimitives.Multiply(a, 2 * TanhScale, a);         // 2u
                TensorPrimitives.Sigmoid(a, a);
            }
            else
            {
                TensorPrimitives.Sigmoid(v, a);
            }
            TensorPrimitives.Multiply(a, v, destination.Slice(i, n));
        }
    }

    /// <summary>destination = 0.5 x (1 + erf), 1 + erf being <paramref name="remainder"/> for x below zero and 2 minus it otherwise.</summary>
    private static void FinishGelu(ReadOnlySpan<float> x, ReadOnlySpan<float> remainder, Span<float> destination)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var two = new Vector<float>(2f);
            var half = new Vector<float>(0.5f);
            for (; i + Vector<float>.Count <= x.Length; i += Vector<float>.Count)
            {
                var v = new Vector<float>(x.Slice(i));
                var q = new Vector<float>(remainder.Slice(i));
                (half * v * Vector.ConditionalSelect(Vector.LessThan(v, Vector<float>.Zero), q, two - q)).CopyTo(destination.Slice(i));
            }
        }
        for (; i < x.Length; i++) destination[i] = 0.5f * x[i] * (x[i] < 0 ? remainder[i] : 2 - remainder[i]);
    }

    private static void CheckLengths(int x, int other, int destination)
    {
        if (other != x || destination != x)
            throw new ArgumentException($"The activation's operands must be of one length; they are {x}, {other} and {destination}.", nameof(destination));
    }
}
