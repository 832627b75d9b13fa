using System.Buffers.Binary;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

/// <summary>
/// Each ggml type against blocks built by hand from the format's description, element by element (where each
/// element's bits and scale live), so that the loops of the dequantizer are checked by an independent formulation.
/// </summary>
public sealed class GgmlDequantizerTests
{
    private static byte[] Half16(float value) => BitConverter.GetBytes((Half)value);

    private static float[] Dequantize(GgmlType type, byte[] data, int count)
    {
        var result = new float[count];
        GgmlDequantizer.Dequantize(type, data, result);
        return result;
    }

    [Fact]
    public void FloatTypes()
    {
        Assert.Equal([1.5f, -2f, 1e-30f], Dequantize(GgmlType.F32, [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f), .. BitConverter.GetBytes(1e-30f)], 3));
        Assert.Equal([1.5f, -2f, 65504f], Dequantize(GgmlType.F16, [.. Half16(1.5f), .. Half16(-2f), .. Half16(65504f)], 3));
        Assert.Equal([1.5f, -2f, 3.0f], Dequantize(GgmlType.BF16, [0xC0, 0x3F, 0x00, 0xC0, 0x40, 0x40], 3));
    }

    [Fact]
    public void Q4_0()
    {
        // d = 0.5; element j < 16 is the low nibble of byte j, element j + 16 its high nibble; value (q - 8) * d.
        var block = new byte[18];
        Half16(0.5f).CopyTo(block, 0);
        for (int j = 0; j < 16; j++) block[2 + j] = (byte)(j | ((15 - j) << 4));
        var expected = Enumerable.Range(0, 32).Select(e => (e < 16 ? e - 8 : 15 - (e - 16) - 8) * 0.5f).ToArray();
        Assert.Equal(expected, Dequantize(GgmlType.Q4_0, block, 32));
    }

    [Fact]
    public void Q4_1()
    {
        var block = new byte[20];
        Half16(0.25f).CopyTo(block, 0);
        Half16(-1f).CopyTo(block, 2);
        for (int j = 0; j < 16; j++) block[4 + j] = (byte)(j | ((15 - j) << 4));
        var expected = Enumerable.Range(0, 32).Select(e => (e < 16 ? e : 15 - (e - 16)) * 0.25f - 1f).ToArray();
        Assert.Equal(expected, Dequantize(GgmlType.Q4_1, block, 32));
    }

    [Theory]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    public void Q5_0AndQ5_1(GgmlType type)
    {
        // Bit e of the 32-bit qh is bit 4 of element e.
        bool withMin = type == GgmlType.Q5_1;
        var block = new byte[withMin ? 24 : 22];
        Half16(0.5f).CopyTo(block, 0);
        if (withMin) Half16(2f).CopyTo(block, 2);
        int qhAt = withMin ? 4 : 2, qsAt = qhAt + 4;
        var q = Enumerable.Range(0, 32).Select(e => (e * 7 + 3) % 32).ToArray();
        uint qh = 0;
        for (int e = 0; e < 32; e++)
        {
            if (q[e] >= 16) qh |= 1u << e;
            int j = e % 16;
            block[qsAt + j] |= (byte)(e < 16 ? q[e] & 0xF : (q[e] & 0xF) << 4);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(qhAt), qh);
        var expected = q.Select(v => withMin ? v * 0.5f + 2f : (v - 16) * 0.5f).ToArray();
        Assert.Equal(expected, Dequantize(type, block, 32));
    }

    [Fact]
    public void Q8_0()
    {
        var block = new byte[34];
        Half16(0.125f).CopyTo(block, 0);
        for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)(j * 8 - 128);
        Assert.Equal(Enumerable.Range(0, 32).Select(j => (j * 8 - 128) * 0.125f), Dequantize(GgmlType.Q8_0, block, 32));
    }

    /// <summary>The 12-byte packing of eight 6-bit scales and mins, written from its description.</summary>
    private static byte[] PackScalesAndMins(int[] scales, int[] mins)
    {
        var packed = new byte[12];
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                packed[j] |= (byte)(scales[j] & 63);
                packed[j + 4] |= (byte)(mins[j] & 63);
            }
            else
            {
                packed[j + 4] = (byte)((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
                packed[j - 4] |= (byte)((scales[j] >> 4) << 6);
                packed[j] |= (byte)((mins[j] >> 4) << 6);
            }
        }
        return packed;
    }

    [Theory]
    [InlineData(GgmlType.Q4_K, 1)]
    [InlineData(GgmlType.Q4_K, 2)]
    [InlineData(GgmlType.Q5_K, 1)]
    [InlineData(GgmlType.Q5_K, 2)]
    public void Q4_KAndQ5_K(GgmlType type, int seed)
    {
        // Element e belongs to sub-block e / 32 (scale and min pair e / 32); within its 64, the first 32 are low nibbles
        // of qs[64-block * 32 + l] and the next 32 the high nibbles; Q5_K's bit 4 is bit (2 * (e / 64) + (e % 64 >= 32)) of qh[e % 32].
        bool five = type == GgmlType.Q5_K;
        var random = new Random(seed);
        var scales = Enumerable.Range(0, 8).Select(_ => random.Next(64)).ToArray();
        var mins = Enumerable.Range(0, 8).Select(_ => random.Next(64)).ToArray();
        scales[7] = 63; mins[4] = 63; // the high bits of the second four are exercised
        var q = Enumerable.Range(0, 256).Select(_ => random.Next(five ? 32 : 16)).ToArray();
        float d = seed == 1 ? 0.5f : (float)(Half)0.0123f, dmin = seed == 1 ? 0.25f : (float)(Half)0.0071f;

        var block = new byte[five ? 176 : 144];
        Half16(d).CopyTo(block, 0);
        Half16(dmin).CopyTo(block, 2);
        PackScalesAndMins(scales, mins).CopyTo(block, 4);
        int qhAt = 16, qsAt = five ? 48 : 16;
        for (int e = 0; e < 256; e++)
        {
            int part = e / 64, r = e % 64;
            int at = qsAt + part * 32 + r % 32;
            block[at] |= (byte)(r < 32 ? q[e] & 0xF : (q[e] & 0xF) << 4);
            if (five && q[e] >= 16) block[qhAt + r % 32] |= (byte)(1 << (2 * part + (r < 32 ? 0 : 1)));
        }
        var expected = Enumerable.Range(0, 256).Select(e => d * scales[e / 32] * q[e] - dmin * mins[e / 32]).ToArray();
        Assert.Equal(expected, Dequantize(type, block, 256));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Q6_K(int seed)
    {
        // Element e: half e / 128; within it r = e % 128, quarter r / 32, l = r % 32. Low 4 bits: quarters 0 and 1 are
        // the low nibbles of ql[64h + l] and ql[64h + 32 + l], quarters 2 and 3 their high nibbles; high 2 bits are bits
        // 2*quarter of qh[32h + l]; the scale is the int8 scales[8h + 2*quarter + l / 16]; value d * scale * (q - 32).
        var random = new Random(seed);
        var q = Enumerable.Range(0, 256).Select(_ => random.Next(64)).ToArray();
        var scales = Enumerable.Range(0, 16).Select(_ => random.Next(-128, 128)).ToArray();
        float d = seed == 1 ? 0.5f : (float)(Half)0.00314f;
        var block = new byte[210];
        for (int e = 0; e < 256; e++)
        {
            int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
            int low = q[e] & 0xF, high = q[e] >> 4;
            int qlAt = 64 * h + (quarter % 2) * 32 + l;
            block[qlAt] |= (byte)(quarter < 2 ? low : low << 4);
            block[128 + 32 * h + l] |= (byte)(high << (2 * quarter));
        }
        for (int s = 0; s < 16; s++) block[192 + s] = (byte)(sbyte)scales[s];
        Half16(d).CopyTo(block, 208);
        var expected = Enumerable.Range(0, 256).Select(e =>
        {
            int h = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
            return d * (sbyte)scales[8 * h + 2 * quarter + l / 16] * (q[e] - 32);
        }).ToArray();
        Assert.Equal(expected, Dequantize(GgmlType.Q6_K, block, 256));
    }

    [Fact]
    public void SeveralBlocksInARow()
    {
        var values = Enumerable.Range(0, 96).Select(i => MathF.Sin(i) * 3).ToArray();
        var q8 = GgmlReferenceQuantizer.QuantizeQ8_0(values);
        var all = Dequantize(GgmlType.Q8_0, q8, 96);
        Assert.Equal(all[64..], Dequantize(GgmlType.Q8_0, q8[(2 * 34)..], 32));
    }

    [Fact]
    public void Q4_0RoundTripIsExactToItsOwnValuesAndCloseToTheInput()
    {
        var random = new Random(7);
        var values = Enumerable.Range(0, 32 * 64).Select(_ => (float)(random.NextDouble() * 2 - 1) * (random.Next(4) + 1)).ToArray();
        values[5] = 0; values[40] = 0; // a block may hold zeros
        for (int i = 64 * 1; i < 64 * 1 + 32; i++) values[i] = 0; // an all-zero block: d = 0
        var blocks = GgmlReferenceQuantizer.QuantizeQ4_0(values);
        var result = Dequantize(GgmlType.Q4_0, blocks, values.Length);
        Assert.Equal(GgmlReferenceQuantizer.ExpectedQ4_0(blocks, values.Length), result);
        for (int b = 0; b < values.Length / 32; b++)
        {
            // Within half a step, plus the FP16 rounding of the scale; values of the sign opposite to the largest one
            // reach +8 steps, one past the last code (+7), and may be off by a whole step.
            var block = values.Skip(b * 32).Take(32).ToArray();
            float max = block.MaxBy(MathF.Abs), amax = MathF.Abs(max);
            float step = amax / 8;
            for (int i = b * 32; i < b * 32 + 32; i++)
            {
                bool clamped = amax > 0 && -8 * values[i] / max >= 7.5f;
                float bound = (clamped ? step : step * 0.5f) + amax / 1024 + 1e-7f;
                Assert.True(MathF.Abs(values[i] - result[i]) <= bound, $"element {i}: {values[i]} -> {result[i]}");
            }
        }
    }

    [Fact]
    public void Q8_0RoundTripIsCloseToTheInput()
    {
        var random = new Random(8);
        var values = Enumerable.Range(0, 32 * 64).Select(_ => (float)(random.NextDouble() * 2 - 1) * 5).ToArray();
        var result = Dequantize(GgmlType.Q8_0, GgmlReferenceQuantizer.QuantizeQ8_0(values), values.Length);
        for (int b = 0; b < values.Length / 32; b++)
        {
            // Within half a step, plus the FP16 rounding of the scale (2^-11 relative, times up to 127 steps).
            float amax = values.Skip(b * 32).Take(32).Max(MathF.Abs);
            float step = amax / 127;
            for (int i = b * 32; i < b * 32 + 32; i++)
                Assert.True(MathF.Abs(values[i] - result[i]) <= step * 0.5f + amax / 2048 + 1e-7f, $"element {i}: {values[i]} -> {result[i]}");
        }
    }

    [Fact]
    public void UnpackedQ4_0IsTheSymmetricInt4OfTheDequantizedValues()
    {
        var values = Enumerable.Range(0, 64).Select(i => MathF.Cos(i * 0.7f)).ToArray();
        var blocks = GgmlReferenceQuantizer.QuantizeQ4_0(values);
        var quants = new byte[64];
        var scales = new Half[2];
        GgmlLegacyQuants.UnpackQ4_0(blocks, quants, scales);
        var fromUnpacked = Enumerable.Range(0, 64).Select(i => (quants[i] - 8) * (float)scales[i / 32]).ToArray();
        Assert.Equal(Dequantize(GgmlType.Q4_0, blocks, 64), fromUnpacked);
    }

    [Fact]
    public void RefusesTypesItCannotConvertAndPartialBlocks()
    {
        Assert.Throws<NotSupportedException>(() => GgmlDequantizer.Dequantize(GgmlType.Q2_K, new byte[84], new float[256]));
        Assert.Throws<ArgumentException>(() => GgmlDequantizer.Dequantize(GgmlType.Q8_0, new byte[34], new float[16]));
        Assert.Throws<ArgumentException>(() => GgmlDequantizer.Dequantize(GgmlType.Q8_0, new byte[33], new float[32]));
    }

    [Fact]
    public void BlockGeometry()
    {
        Assert.Equal((32, 18), (GgmlType.Q4_0.BlockSize(), GgmlType.Q4_0.BlockBytes()));
        Assert.Equal((256, 144), (GgmlType.Q4_K.BlockSize(), GgmlType.Q4_K.BlockBytes()));
        Assert.Equal((256, 176), (GgmlType.Q5_K.BlockSize(), GgmlType.Q5_K.BlockBytes()));
        Assert.Equal((256, 210), (GgmlType.Q6_K.BlockSize(), GgmlType.Q6_K.BlockBytes()));
        Assert.Equal((32, 34), (GgmlType.Q8_0.BlockSize(), GgmlType.Q8_0.BlockBytes()));
        Assert.Equal(30u, (uint)GgmlType.BF16);
        Assert.False(GgmlTypeInfo.TryGetBlock((GgmlType)4, out _, out _));
    }
}
