using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Ops;

/// <summary>
/// How a kernel widens FP16 values read in registers: FP16 weights (<see cref="MatMul.Float16Gemm"/>) and the FP16
/// group scales of INT4 matrices (<see cref="Quantization.Int4GroupScales{Z, H}"/>). A type argument, so each kernel is
/// compiled for one conversion: the exact one for any halves, or the shorter one for halves checked to be finite.
/// </summary>
internal unsafe interface IHalfWidening
{
    static abstract Vector512<float> Widen16(ushort* halves);

    static abstract Vector256<float> Widen8(ushort* halves);

    /// <summary>One half as the vectors hold it, for the columns past the last whole vector: by default its plain value.</summary>
    static virtual float Widen1(ushort half) => (float)BitConverter.UInt16BitsToHalf(half);
}

/// <summary>Any halves: infinity and NaN stay what they are, so a damaged weight or scale makes its results not finite.</summary>
internal readonly unsafe struct AnyHalves : IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16(ushort* halves) => HalfConversion.ToSingle16(halves);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen8(ushort* halves) => HalfConversion.ToSingle8(halves);
}

/// <summary>Halves checked to be finite (<see cref="HalfConversion.AllFinite"/>): the same values, without the fix-up.</summary>
internal readonly unsafe struct FiniteHalves : IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16(ushort* halves) => HalfConversion.ToSingle16Finite(halves);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen8(ushort* halves) => HalfConversion.ToSingle8Finite(halves);
}

/// <summary>
/// Halves of rows checked to be finite, 2^112 times too small (<see cref="HalfConversion.ToSingle16Rebiased"/>): only
/// against activations that carry the 2^112.
/// </summary>
internal readonly unsafe struct RebiasedHalves : IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen16(ushort* halves) => HalfConversion.ToSingle16Rebiased(halves);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen8(ushort* halves) => HalfConversion.ToSingle8Rebiased(halves);

    /// <summary>The value times 2^-112: exact, a half's smallest subnormal (2^-24) becoming 2^-136, an FP32 subnormal.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float IHalfWidening.Widen1(ushort half) => (float)BitConverter.UInt16BitsToHalf(half) * (1f / HalfConversion.Rebias);
}
