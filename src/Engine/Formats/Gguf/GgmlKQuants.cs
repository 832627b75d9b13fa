namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// ggml's K-quants: super-blocks of 256 elements with a second level of scales.
/// <list type="bullet">
/// <item>Q4_K (144 bytes): d, dmin (FP16), 12 bytes of eight 6-bit scales and eight 6-bit mins, 128 bytes of nibbles.
/// Each 64 elements use two (scale, min) pairs: the low nibbles of 32 bytes with the first, the high nibbles with the
/// second; value = d * scale * q - dmin * min.</item>
/// <item>Q5_K (176 bytes): as Q4_K with 32 bytes qh between scales and nibbles; bit 2i (low nibbles) and 2i+1 (high
/// nibbles) of qh[l] add 16 to element l of the i-th 64.</item>
/// <item>Q6_K (210 bytes): 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8 scales (one per 16
/// elements), FP16 d; value = d * scale * (q - 32).</item>
/// </list>
/// </summary>
internal static class GgmlKQuants
{
    public const int SuperBlock = 256;

    /// <summary>
    /// The j-th 6-bit (scale, min) pair of the 12-byte packing: pairs 0-3 are the low 6 bits of bytes j and j+4;
    /// pairs 4-7 take their low 4 bits from byte j+4 and their top 2 bits from the spare high bits of bytes j-4 and j.
    /// </summary>
    private static (byte Scale, byte Min) ScaleMin(int j, ReadOnlySpan<byte> q) => j < 4
        ? ((byte)(q[j] & 63), (byte)(q[j + 4] & 63))
        : ((byte)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)), (byte)((q[j + 4] >> 4) | ((q[j] >> 6) << 4)));

    public static void DequantizeQ4_K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / SuperBlock; b++)
        {
            var block = source.Slice(b * 144, 144);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            float min = GgmlDequantizer.ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            var qs = block.Slice(16, 128);
            var y = destination.Slice(b * SuperBlock, SuperBlock);
            for (int part = 0; part < 4; part++)
            {
                var (sc1, m1) = ScaleMin(2 * part, scales);
                var (sc2, m2) = ScaleMin(2 * part + 1, scales);
                float d1 = d * sc1, min1 = min * m1;
                float d2 = d * sc2, min2 = min * m2;
                var q = qs.Slice(part * 32, 32);
                var out1 = y.Slice(part * 64, 32);
                var out2 = y.Slice(part * 64 + 32, 32);
                for (int l = 0; l < 32; l++) out1[l] = d1 * (q[l] & 0x0F) - min1;
                for (int l = 0; l < 32; l++) out2[l] = d2 * (q[l] >> 4) - min2;
            }
        }
    }

    public static void DequantizeQ5_K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / SuperBlock; b++)
        {
            var block = source.Slice(b * 176, 176);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            float min = GgmlDequantizer.ReadHalf(block, 2);
            var scales = block.Slice(4, 12);
            var qh = block.Slice(16, 32);
            var qs = block.Slice(48, 128);
            var y = destination.Slice(b * SuperBlock, SuperBlock);
            for (int part = 0; part < 4; part++)
            {
                var (sc1, m1) = ScaleMin(2 * part, scales);
                var (sc2, m2) = ScaleMin(2 * part + 1, scales);
                float d1 = d * sc1, min1 = min * m1;
                float d2 = d * sc2, min2 = min * m2;
                int bit1 = 1 << (2 * part), bit2 = 2 << (2 * part);
                var q = qs.Slice(part * 32, 32);
                var out1 = y.Slice(part * 64, 32);
                var out2 = y.Slice(part * 64 + 32, 32);
                for (int l = 0; l < 32; l++) out1[l] = d1 * ((q[l] & 0x0F) + ((qh[l] & bit1) != 0 ? 16 : 0)) - min1;
                for (int l = 0; l < 32; l++) out2[l] = d2 * ((q[l] >> 4) + ((qh[l] & bit2) != 0 ? 16 : 0)) - min2;
            }
        }
    }

    public static void DequantizeQ6_K(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / SuperBlock; b++)
        {
            var block = source.Slice(b * 210, 210);
            var ql = block.Slice(0, 128);
            var qh = block.Slice(128, 64);
            var scales = block.Slice(192, 16);
            float d = GgmlDequantizer.ReadHalf(block, 208);
            var y = destination.Slice(b * SuperBlock, SuperBlock);
            // Two halves of 128 elements; in each, 64 bytes of ql, 32 of qh and 8 scales.
            for (int half = 0; half < 2; half++)
            {
                var low = ql.Slice(half * 64, 64);
                var high = qh.Slice(half * 32, 32);
                var sc = scales.Slice(half * 8, 8);
                var o = y.Slice(half * 128, 128);
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((low[l] & 0x0F) | ((high[l] & 3) << 4)) - 32;
                    int q2 = ((low[l + 32] & 0x0F) | (((high[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((low[l] >> 4) | (((high[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((low[l + 32] >> 4) | (((high[l] >> 6) & 3) << 4)) - 32;
                    o[l] = d * (sbyte)sc[s] * q1;
                    o[l + 32] = d * (sbyte)sc[s + 2] * q2;
                    o[l + 64] = d * (sbyte)sc[s + 4] * q3;
                    o[l + 96] = d * (sbyte)sc[s + 6] * q4;
                }
            }
        }
    }
}
