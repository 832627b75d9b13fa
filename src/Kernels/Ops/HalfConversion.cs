using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Ops;

/// <summary>FP16 to FP32 for kernels, eight values at a time with AVX2 (.NET exposes no F16C conversion).</summary>
public static unsafe class HalfConversion
{
    /// <summary>
    /// Eight FP16 values to FP32, exactly for every value: the sign, exponent and mantissa bits shifted into a float's
    /// positions and scaled by 2^112 (which also makes subnormal halves exact). Infinity and NaN (exponent
    /// all ones) would scale to finite numbers near 65536, so a damaged weight would pass unseen: their exponent is set
    /// to all ones again, keeping the mantissa (infinity stays infinity, NaN stays NaN), as the scalar conversion does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8(ushort* halves)
    {
        var h = Avx2.ConvertToVector256Int32((short*)halves);
        var value = ((h << 13) & Vector256.Create(SignExponentMantissa)).AsSingle() * Vector256.Create(TwoTo112);
        var notFinite = Vector256.Equals(h & Vector256.Create(0x7C00), Vector256.Create(0x7C00)) & Vector256.Create(0x7F800000);
        return (value.AsInt32() | notFinite).AsSingle();
    }

    /// <summary>Sixteen FP16 values to FP32 with AVX-512, exactly as <see cref="ToSingle8"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle16(ushort* halves)
    {
        var h = Avx512F.ConvertToVector512Int32(Vector256.Load((short*)halves));
        var value = ((h << 13) & Vector512.Create(SignExponentMantissa)).AsSingle() * Vector512.Create(TwoTo112);
        var notFinite = Vector512.Equals(h & Vector512.Create(0x7C00), Vector512.Create(0x7C00)) & Vector512.Create(0x7F800000);
        return (value.AsInt32() | notFinite).AsSingle();
    }

    /// <summary>
    /// The half sign-extended to 32 bits and shifted left by 13 puts its mantissa and exponent where a float's go and its
    /// sign in bit 31 (bits 28-30 are copies of the sign, cleared by this mask): one AND instead of separate sign and
    /// magnitude masks.
    /// </summary>
    private const int SignExponentMantissa = unchecked((int)0x8FFFE000);

    private const float TwoTo112 = 5.192297e33f;
}
