using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Tests.Kernels.Ops;

/// <summary>The eight- and sixteen-at-a-time FP16 conversions against .NET's own, over every one of the 65,536 half values.</summary>
public sealed unsafe class HalfConversionTests
{
    [SkippableFact]
    public void EveryHalfConvertsAsTheScalarConversionDoesInfinityAndNaNIncluded()
    {
        Skip.IfNot(Avx2.IsSupported, "AVX2 is not available on this processor.");
        AssertEveryHalf(8, p => { var a = new float[8]; System.Runtime.Intrinsics.Vector256.CopyTo(HalfConversion.ToSingle8(p), a); return a; });
    }

    [SkippableFact]
    public void EveryHalfConvertsSixteenAtATimeAsTheScalarConversionDoes()
    {
        Skip.IfNot(Avx512F.IsSupported, "AVX-512 is not available on this processor.");
        AssertEveryHalf(16, p => { var a = new float[16]; System.Runtime.Intrinsics.Vector512.CopyTo(HalfConversion.ToSingle16(p), a); return a; });
    }

    [SkippableFact]
    public void TheFiniteOnlyConversionsGiveTheSameValuesForEveryFiniteHalf()
    {
        Skip.IfNot(Avx2.IsSupported, "AVX2 is not available on this processor.");
        AssertEveryHalf(8, p => { var a = new float[8]; System.Runtime.Intrinsics.Vector256.CopyTo(HalfConversion.ToSingle8Finite(p), a); return a; }, finiteOnly: true);
        Skip.IfNot(Avx512F.IsSupported, "AVX-512 is not available on this processor (the 8-wide conversion passed).");
        AssertEveryHalf(16, p => { var a = new float[16]; System.Runtime.Intrinsics.Vector512.CopyTo(HalfConversion.ToSingle16Finite(p), a); return a; }, finiteOnly: true);
    }

    [Fact]
    public void AllFiniteFindsAnInfinityOrANaNAnywhereInARow()
    {
        foreach (int length in new[] { 1, 15, 16, 17, 100 })
        {
            var row = Enumerable.Range(0, length).Select(i => BitConverter.HalfToUInt16Bits((Half)(i * 0.5 - 3))).ToArray();
            fixed (ushort* p = row) Assert.True(HalfConversion.AllFinite(p, length));
            foreach (ushort bad in new ushort[] { 0x7C00, 0xFC00, 0x7E00, 0xFC01 })
            for (int at = 0; at < length; at++)
            {
                var damaged = (ushort[])row.Clone();
                damaged[at] = bad;
                fixed (ushort* p = damaged) Assert.False(HalfConversion.AllFinite(p, length), $"0x{bad:X4} at {at} of {length}");
            }
        }
    }

    private delegate float[] Conversion(ushort* halves);

    private static void AssertEveryHalf(int width, Conversion convert, bool finiteOnly = false)
    {
        var halves = new ushort[65536];
        for (int i = 0; i < halves.Length; i++) halves[i] = (ushort)i;
        var mismatches = new List<string>();
        fixed (ushort* p = halves)
        {
            for (int i = 0; i < halves.Length; i += width)
            {
                var vector = convert(p + i);
                for (int j = 0; j < width; j++)
                {
                    float expected = (float)BitConverter.UInt16BitsToHalf(halves[i + j]);
                    if (finiteOnly && !float.IsFinite(expected)) continue;
                    float actual = vector[j];
                    bool same = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual);
                    if (!same && mismatches.Count < 10) mismatches.Add($"0x{halves[i + j]:X4}: expected {expected}, got {actual}");
                }
            }
        }
        Assert.Empty(mismatches);
    }
}
