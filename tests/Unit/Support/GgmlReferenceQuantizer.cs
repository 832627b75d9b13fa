using System.Buffers.Binary;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Straightforward quantizers producing ggml's Q4_0 and Q8_0 blocks the way ggml's reference quantizers define them,
/// to make test files and to check the dequantizer by round trip.
/// </summary>
public static class GgmlReferenceQuantizer
{
    /// <summary>
    /// Q4_0: per 32 values, d = (the value of largest magnitude) / -8, stored FP16; q = min(15, trunc(x / d + 8.5)),
    /// with 1/d taken from the unrounded d. Element j goes in the low nibble of byte j, element j+16 in its high nibble.
    /// </summary>
    public static byte[] QuantizeQ4_0(ReadOnlySpan<float> values)
    {
        var result = new byte[values.Length / 32 * 18];
        for (int b = 0; b < values.Length / 32; b++)
        {
            var x = values.Slice(b * 32, 32);
            float amax = 0, max = 0;
            foreach (float v in x)
            {
                if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            var block = result.AsSpan(b * 18, 18);
            BinaryPrimitives.WriteUInt16LittleEndian(block, BitConverter.HalfToUInt16Bits((Half)d));
            for (int j = 0; j < 16; j++)
            {
                int q0 = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(sbyte)(x[j + 16] * id + 8.5f));
                block[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
        return result;
    }

    /// <summary>Q8_0: per 32 values, d = max |x| / 127 stored FP16; q = round(x / d), halves away from zero.</summary>
    public static byte[] QuantizeQ8_0(ReadOnlySpan<float> values)
    {
        var result = new byte[values.Length / 32 * 34];
        for (int b = 0; b < values.Length / 32; b++)
        {
            var x = values.Slice(b * 32, 32);
            float amax = 0;
            foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            var block = result.AsSpan(b * 34, 34);
            BinaryPrimitives.WriteUInt16LittleEndian(block, BitConverter.HalfToUInt16Bits((Half)d));
            for (int j = 0; j < 32; j++) block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
        return result;
    }

    /// <summary>What a Q4_0 block holds, computed the plain way: (q - 8) * d for each of its 32 values.</summary>
    public static float[] ExpectedQ4_0(ReadOnlySpan<byte> blocks, int count)
    {
        var result = new float[count];
        for (int i = 0; i < count; i++)
        {
            var block = blocks.Slice(i / 32 * 18, 18);
            float d = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block));
            int j = i % 32;
            int q = j < 16 ? block[2 + j] & 0x0F : block[2 + j - 16] >> 4;
            result[i] = (q - 8) * d;
        }
        return result;
    }
}
