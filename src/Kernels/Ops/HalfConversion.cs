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

    /// <summary>
    /// Four FP16 values to FP32 in portable 128-bit operations (SSE, ARM64 AdvSimd), exactly as <see cref="ToSingle8"/>:
    /// the 128-bit kernel's group scales, which a value-by-value conversion in software made a large share of decode on
    /// groups of 32.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle4(ushort* halves)
    {
        var h = Vector128.WidenLower(Vector128.CreateScalar(*(long*)halves).AsInt16());
        var value = ((h << 13) & Vector128.Create(SignExponentMantissa)).AsSingle() * Vector128.Create(TwoTo112);
        var notFinite = Vector128.Equals(h & Vector128.Create(0x7C00), Vector128.Create(0x7C00)) & Vector128.Create(0x7F800000);
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
    /// <see cref="ToSingle8"/> for halves known to be finite (no infinity or NaN among them), the same values with
    /// three operations fewer: a caller checks its weights once (<see cref="AllFinite"/>) and widens them this way from
    /// then on.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8Finite(ushort* halves) => ToSingle8Rebiased(halves) * Vector256.Create(TwoTo112);

    /// <summary><see cref="ToSingle16"/> for halves known to be finite, as <see cref="ToSingle8Finite"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle16Finite(ushort* halves) => ToSingle16Rebiased(halves) * Vector512.Create(TwoTo112);

    /// <summary>
    /// Eight finite FP16 values as FP32 values 2^112 times smaller, exactly (a half's subnormals become FP32 subnormals):
    /// <see cref="ToSingle8Finite"/> without its multiply, for a product whose other factor was multiplied by
    /// <see cref="Rebias"/> instead, once for every row it meets (the product is then the same real number, so it
    /// rounds the same).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle8Rebiased(ushort* halves) =>
        ((Avx2.ConvertToVector256Int32((short*)halves) << 13) & Vector256.Create(SignExponentMantissa)).AsSingle();

    /// <summary>Sixteen finite FP16 values as <see cref="ToSingle8Rebiased"/> gives eight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle16Rebiased(ushort* halves) =>
        ((Avx512F.ConvertToVector512Int32(Vector256.Load((short*)halves)) << 13) & Vector512.Create(SignExponentMantissa)).AsSingle();

    /// <summary>2^112: what <see cref="ToSingle8Rebiased"/>'s values lack, to be put on the other factor of their products.</summary>
    public const float Rebias = TwoTo112;

    /// <summary>Whether none of <paramref name="count"/> halves is an infinity or a NaN (exponent bits all ones).</summary>
    [MethodImpl(LoadLoops.Compile)]
    public static bool AllFinite(ushort* halves, long count)
    {
        var exponent = Vector256.Create((ushort)0x7C00);
        long i = 0;
        var notFinite = Vector256<ushort>.Zero;
        for (; i + 16 <= count; i += 16)
            notFinite |= Vector256.Equals(Vector256.Load(halves + i) & exponent, exponent);
        if (notFinite != Vector256<ushort>.Zero) return false;
        for (; i < count; i++)
            if ((halves[i] & 0x7C00) == 0x7C00) return false;
        return true;
    }

    /// <summary>
    /// The half sign-extended to 32 bits and shifted left by 13 puts its mantissa and exponent where a float's go and its
    /// sign in bit 31 (bits 28-30 are copies of the sign, cleared by this mask): one AND instead of separate sign and
    /// magnitude masks.
    /// </summary>
    private const int SignExponentMantissa = unchecked((int)0x8FFFE000);

    private const float TwoTo112 = 5.192297e33f;
}
