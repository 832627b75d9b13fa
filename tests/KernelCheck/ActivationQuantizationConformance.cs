using System.Runtime.Intrinsics;
using LlmCpu.Kernels;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.KernelCheck;

/// <summary>
/// The vector quantization of whole activation blocks to INT8 against the scalar rule (absolute maximum / 127, each
/// value times its inverse rounded half to even), bit for bit: codes, scale and sum. Run in each child process, this
/// covers the vector width each path has (256 bits with AVX2, 128 bits where it is switched off, as on ARM64) on ties,
/// zero blocks, one huge value among small ones, and tiny values.
/// </summary>
public static class ActivationQuantizationConformance
{
    public static IEnumerable<ConformanceResult> Run()
    {
        if (!ActivationScratch.VectorizesBlock) yield break;
        foreach (int blockSize in new[] { 32, 64, 128 })
        {
            var random = new Random(blockSize);
            var input = new float[blockSize];
            var codes = new sbyte[blockSize];
            int mismatches = 0;
            for (int round = 0; round < 200; round++)
            {
                for (int i = 0; i < blockSize; i++)
                {
                    input[i] = (round % 4) switch
                    {
                        0 => (i % 9) switch { 0 => 127f, 1 => 2.5f, 2 => -3.5f, 3 => 0.5f, _ => (float)(random.NextDouble() * 254 - 127) }, // ties
                        1 => 0f,                                                                                                          // all zero
                        2 => (float)(random.NextDouble() * 2 - 1) * (i == round % blockSize ? -1e30f : 1f),                                // one huge value
                        _ => (float)(random.NextDouble() * 2 - 1) * 1e-30f,                                                               // tiny values
                    };
                }
                int sum = Quantize(input, codes, out float scale);

                float absMax = input.Max(MathF.Abs);
                float expectedScale = absMax / 127f, inverse = expectedScale != 0 ? 1f / expectedScale : 0;
                int expectedSum = 0;
                bool same = true;
                for (int i = 0; i < blockSize; i++)
                {
                    int expected = (int)MathF.Round(input[i] * inverse, MidpointRounding.ToEven);
                    expectedSum += expected;
                    same &= expected == codes[i];
                }
                if (!same || scale != expectedScale || sum != expectedSum) mismatches++;
            }
            yield return new ConformanceResult("activation quantization", KernelDispatch.Best,
                $"blocks of {blockSize}, {(Vector256.IsHardwareAccelerated ? 256 : 128)}-bit vectors, 200 blocks", mismatches == 0, mismatches, 0);
        }
    }

    private static unsafe int Quantize(float[] input, sbyte[] codes, out float scale)
    {
        fixed (float* x = input)
        fixed (sbyte* q = codes)
            return ActivationScratch.QuantizeVectorBlock(x, q, input.Length, out scale);
    }
}
