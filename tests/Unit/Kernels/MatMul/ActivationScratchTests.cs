using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.MatMul;

/// <summary>
/// Dynamic INT8 quantization of activations against the rule written out one value at a time: scale = max|x| / 127,
/// q = round half to even (x / scale), and the block's sum of q. The vector path must give the same bytes.
/// </summary>
public sealed unsafe class ActivationScratchTests
{
    [Theory]
    [InlineData(1, 4096, 4096, 32)]
    [InlineData(3, 4096, 4096, 128)]
    [InlineData(2, 100, 128, 32)]   // a short last block (columns past 100 are zero)
    [InlineData(2, 300, 384, 128)]
    [InlineData(1, 64, 64, 64)]
    public void Int8QuantizationMatchesTheScalarRule(int tokens, int columns, int kPadded, int blockSize)
    {
        var random = new Random(columns * 31 + blockSize);
        var input = new float[tokens * columns];
        for (int i = 0; i < input.Length; i++)
        {
            // The first half has a 127 in every 13 values, so its blocks have scale 1 and 2.5, -3.5 and 0.5 are
            // exact ties, which must round to even; the second half is random with some large values.
            input[i] = i < input.Length / 2
                ? (i % 13) switch { 0 => 0f, 1 => 2.5f, 2 => -3.5f, 3 => 127f, 4 => 0.5f, _ => (float)(random.NextDouble() * 254 - 127) }
                : (float)(random.NextDouble() * 2 - 1) * (i % 5 == 0 ? 100f : 1f);
        }
        using var scratch = new ActivationScratch();
        fixed (float* x = input) scratch.QuantizeInt8(x, tokens, columns, kPadded, blockSize);

        int blocks = kPadded / blockSize;
        for (int t = 0; t < tokens; t++)
        {
            for (int b = 0; b < blocks; b++)
            {
                int start = b * blockSize, length = Math.Clamp(columns - start, 0, blockSize);
                float absMax = 0;
                for (int i = 0; i < length; i++) absMax = Math.Max(absMax, Math.Abs(input[t * columns + start + i]));
                float scale = absMax / 127f, inverse = scale != 0 ? 1f / scale : 0;
                int sum = 0;
                for (int i = 0; i < blockSize; i++)
                {
                    int expected = i < length ? (int)MathF.Round(input[t * columns + start + i] * inverse, MidpointRounding.ToEven) : 0;
                    sum += expected;
                    Assert.Equal(expected, (int)scratch.Int8[(long)t * scratch.Int8Stride + start + i]);
                }
                Assert.Equal(scale, scratch.BlockScales[t * blocks + b]);
                Assert.Equal(sum, scratch.BlockSums[t * blocks + b]);
                // The same by block, consecutive tokens side by side (the token-pair kernels' layout).
                Assert.Equal(scale, scratch.BlockScalesByBlock[b * tokens + t]);
                Assert.Equal(sum, scratch.BlockSumsByBlock[b * tokens + t]);
            }
        }
    }

    [Fact]
    public void HalfChunkSumsAreTheFirstSixteenActivations()
    {
        // Values of both signs and large magnitudes, so each half's sum is negative or beyond a byte in some chunk.
        const int tokens = 3, chunks = 4;
        var x = Enumerable.Range(0, tokens * chunks * 32).Select(i => (float)(Math.Sin(i) + (i % 37 < 18 ? -0.9 : 0.9))).ToArray();
        using var scratch = new ActivationScratch();
        fixed (float* px = x) scratch.QuantizeInt8(px, tokens, chunks * 32, chunks * 32, 32);
        for (int t = 0; t < tokens; t++)
            for (int c = 0; c < chunks; c++)
            {
                int first = 0, second = 0;
                for (int j = 0; j < 16; j++) first += scratch.Int8[t * scratch.Int8Stride + c * 32 + j];
                for (int j = 16; j < 32; j++) second += scratch.Int8[t * scratch.Int8Stride + c * 32 + j];
                // Both halves as the two 16-bit words of one int, by chunk (consecutive tokens side by side).
                int pair = scratch.HalfSumPairsByChunk[c * tokens + t];
                Assert.Equal(first, (short)pair);
                Assert.Equal(second, pair >> 16);
                // As a kernel reads the first half from a token view that starts at token 1.
                if (t >= 1) Assert.Equal(first, new TokenInt8(scratch, 1, chunks).FirstHalfSum(t - 1, c));
            }
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(2048)]
    [InlineData(11008)]
    [InlineData(100)]
    public void TokensLieAnOddNumberOfCacheLinesApart(int kPadded)
    {
        // A multi-token kernel reads the same offset of many tokens at once: 4096 bytes apart, all of them would share
        // one set of the L1 cache. An odd number of 64-byte lines apart, the first 64 tokens use 64 different sets.
        using var scratch = new ActivationScratch();
        scratch.LayOutInt8(64, kPadded, 32);
        Assert.True(scratch.Int8Stride >= kPadded);
        Assert.Equal(0, scratch.Int8Stride % 64);
        Assert.Equal(1, scratch.Int8Stride / 64 % 2);
        var sets = Enumerable.Range(0, 64).Select(t => (long)t * scratch.Int8Stride / 64 % 64).Distinct().Count();
        Assert.Equal(64, sets);
    }
}
