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
}
