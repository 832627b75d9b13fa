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

    private delegate float[] Conversion(ushort* halves);

    private static void AssertEveryHalf(int width, Conversion convert)
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
                    float actual = vector[j];
                    bool same = float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual);
                    if (!same && mismatches.Count < 10) mismatches.Add($"0x{halves[i + j]:X4}: expected {expected}, got {actual}");
                }
            }
        }
        Assert.Empty(mismatches);
    }
}
