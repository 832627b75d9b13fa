using System.Numerics.Tensors;

namespace LlmCpu.Kernels.Ops;

public static class Activations
{
    /// <summary>SwiGLU in place: gate = silu(gate) * up, with silu(x) = x * sigmoid(x). <paramref name="scratch"/> is gate-sized.</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up, Span<float> scratch)
    {
        TensorPrimitives.Sigmoid(gate, scratch);
        TensorPrimitives.Multiply(gate, scratch, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }
}
