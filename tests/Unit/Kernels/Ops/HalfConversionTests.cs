using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Tests.Kernels.Ops;

/// <summary>The eight-at-a-time FP16 conversion against .NET's own, over every one of the 65,536 half values.</summary>
public sealed unsafe class HalfConversionTests
{
    [SkippableFact]
    public void EveryHalfConvertsAsTheScalarConversionDoesInfinityAndNaNIncluded()
    {
        Skip.IfNot(Avx2.IsSupported, "AVX2 is not available on this processor.");
        var halves = new ushort[65536];
        for (int i = 0; i < halves.Length; i++) halves[i] = (ushort)i;
        var mismatches = new List<string>();
        fixed (ushort* p = halves)
        {
            for (int i = 0; i < halves.Length; i += 8)
            {
                var vector = HalfConversion.ToSingle8(p + i);
                for (int j = 0; j < 8; j++)
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
