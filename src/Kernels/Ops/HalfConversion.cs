using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Ops;

/// <summary>FP16 to FP32 for kernels, eight values at a time with AVX2 (.NET exposes no F16C conversion).</summary>
public static unsafe class HalfConversion
{
    /// <summary>
    /// Eight FP16 values to FP32, exactly for every value: the magnitude bits shifted into a float's exponent/mantissa
    /// position and scaled by 2^112 (which also makes subnormal halves exact), then the sign. Infinity and NaN (exponent
    /// all ones) would scale to finite numbers near 65536, so a damaged weight would pass unseen: their exponent is set
    /// to all ones again, keeping the mantissa (infinity stays infinity, NaN stays NaN), as the scalar conversion does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8(ushort* halves)
    {
        var h = Avx2.ConvertToVector256Int32(halves);
        var sign = (h & Vector256.Create(0x8000)) << 16;
        var magnitude = ((h & Vector256.Create(0x7FFF)) << 13).AsSingle() * Vector256.Create(5.192297e33f); // 2^112
        var exponent = h & Vector256.Create(0x7C00);
        var notFinite = Vector256.Equals(exponent, Vector256.Create(0x7C00)) & Vector256.Create(0x7F800000);
        return (magnitude.AsInt32() | notFinite | sign).AsSingle();
    }
}
