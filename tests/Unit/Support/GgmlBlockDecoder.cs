using System.Buffers.Binary;

namespace LlmCpu.Tests.Support;

/// <summary>Turns Q8_0 and Q4_0 rows back into FP32 as ggml does (value = code * d, or (code - 8) * d), to check encoders against.</summary>
public static class GgmlBlockDecoder
{
    public static float[] DecodeQ8_0(ReadOnlySpan<byte> row)
    {
        var values = new float[row.Length / 34 * 32];
        for (int b = 0; b < values.Length / 32; b++)
        {
            var block = row.Slice(b * 34, 34);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (int j = 0; j < 32; j++) values[b * 32 + j] = (sbyte)block[2 + j] * d;
        }
        return values;
    }

    public static float[] DecodeQ4_0(ReadOnlySpan<byte> row)
    {
        var values = new float[row.Length / 18 * 32];
        for (int b = 0; b < values.Length / 32; b++)
        {
            var block = row.Slice(b * 18, 18);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
            for (int j = 0; j < 16; j++)
            {
                values[b * 32 + j] = ((block[2 + j] & 0x0F) - 8) * d;
                values[b * 32 + j + 16] = ((block[2 + j] >> 4) - 8) * d;
            }
        }
        return values;
    }
}
