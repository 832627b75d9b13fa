using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Engine.Quantization;

/// <summary>w[j] -= e * u[j], the update GPTQ applies to the columns after the one just quantized.</summary>
internal static class ScaledSubtraction
{
    /// <summary>
    /// Rounds the product, then the difference, for every element whether it falls in a vector or in the scalar
    /// remainder (no fused multiply-add), so an element gets bit-identical results from calls of any length or
    /// alignment: GPTQ's blocked (lazy) order then gives exactly what the unblocked order gives.
    /// </summary>
    public static void Apply(Span<float> w, float e, ReadOnlySpan<float> u)
    {
        if (u.Length < w.Length) throw new ArgumentException("u is shorter than w.", nameof(u));
        int n = w.Length, i = 0;
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float ur = ref MemoryMarshal.GetReference(u);
        if (Vector256.IsHardwareAccelerated)
        {
            var ev = Vector256.Create(e);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var product = Vector256.LoadUnsafe(ref ur, (nuint)i) * ev;
                (Vector256.LoadUnsafe(ref wr, (nuint)i) - product).StoreUnsafe(ref wr, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float product = e * u[i];
            w[i] -= product;
        }
    }
}
