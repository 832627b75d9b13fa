using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// Lane work the portable 128-bit kernels share: a chunk's activations widened to octets, and row sums, the eight
/// 16-bit lanes of each of four rows reduced to the four rows' exact 32-bit totals in one vector. Adding lanes pairwise across two vectors is one instruction on both machines
/// this path runs on (SSSE3's phaddd, ARM64's addp) and widening pairs another (pmaddwd by 1, saddlp), where a
/// row-by-row sum took a widening, an add and a horizontal sum per row. Integer sums are exact in any order, so every
/// branch gives the same totals.
/// </summary>
internal static class PortableLanes
{
    /// <summary>
    /// With <paramref name="complete"/> false: the first row pair's partial sums, two lanes for the
    /// <paramref name="even"/> row (each the sum of four of its 16-bit lanes) and two for the <paramref name="odd"/> one.
    /// With it true: <paramref name="partial"/> (the first pair's) joined by the second pair's, giving the four rows'
    /// totals in row order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> PairDots(Vector128<int> partial, Vector128<short> even, Vector128<short> odd, bool complete)
    {
        var pair = AddPairs(WidenPairs(even), WidenPairs(odd)); // [even, even, odd, odd] partial sums
        return complete ? AddPairs(partial, pair) : pair;
    }

    /// <summary>A token's 32 INT8 activations of a chunk as four 16-bit octets (values 0-7, 8-15, 16-23, 24-31).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void WidenOctets(sbyte* x, out Vector128<short> x0, out Vector128<short> x1, out Vector128<short> x2, out Vector128<short> x3)
    {
        var first = Vector128.Load(x);
        var second = Vector128.Load(x + 16);
        x0 = Vector128.WidenLower(first);
        x1 = Vector128.WidenUpper(first);
        x2 = Vector128.WidenLower(second);
        x3 = Vector128.WidenUpper(second);
    }

    /// <summary>Four 32-bit sums of the eight 16-bit lanes, two lanes each.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> WidenPairs(Vector128<short> v)
    {
        if (Sse2.IsSupported) return Sse2.MultiplyAddAdjacent(v, Vector128.Create((short)1));
        if (AdvSimd.IsSupported) return AdvSimd.AddPairwiseWidening(v);
        return Vector128.WidenLower(v) + Vector128.WidenUpper(v);
    }

    /// <summary>[a0 + a1, a2 + a3, b0 + b1, b2 + b3].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> AddPairs(Vector128<int> a, Vector128<int> b)
    {
        if (Ssse3.IsSupported) return Ssse3.HorizontalAdd(a, b);
        if (AdvSimd.Arm64.IsSupported) return AdvSimd.Arm64.AddPairwise(a, b);
        return Vector128.Create(a[0] + a[1], a[2] + a[3], b[0] + b[1], b[2] + b[3]);
    }
}
