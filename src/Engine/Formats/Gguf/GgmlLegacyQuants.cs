using System.Buffers.Binary;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// ggml's blocks of 32 (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). Each starts with an FP16 scale d (and for the _1 types an
/// FP16 offset m). Nibbles are split by half-block: byte j of qs holds element j in its low nibble and element j+16
/// in its high nibble; the 5-bit types add one high bit per element from a 32-bit little-endian qh.
/// </summary>
internal static class GgmlLegacyQuants
{
    public const int BlockSize = 32;

    // Q4_0: d (2 bytes), qs (16 bytes); value = (q - 8) * d.
    public static void DequantizeQ4_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / BlockSize; b++)
        {
            var block = source.Slice(b * 18, 18);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            var qs = block.Slice(2, 16);
            var y = destination.Slice(b * BlockSize, BlockSize);
            for (int j = 0; j < 16; j++)
            {
                y[j] = ((qs[j] & 0x0F) - 8) * d;
                y[j + 16] = ((qs[j] >> 4) - 8) * d;
            }
        }
    }

    /// <summary>
    /// Unpacks Q4_0 blocks without converting them: one 4-bit value (0..15) per byte in element order, and each
    /// block's FP16 scale. Value = (q - 8) * scale, the symmetric INT4 format with groups of 32, so these copy exactly.
    /// </summary>
    public static void UnpackQ4_0(ReadOnlySpan<byte> source, Span<byte> quants, Span<Half> scales)
    {
        int blocks = quants.Length / BlockSize;
        for (int b = 0; b < blocks; b++)
        {
            var block = source.Slice(b * 18, 18);
            scales[b] = BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block));
            var qs = block.Slice(2, 16);
            var q = quants.Slice(b * BlockSize, BlockSize);
            for (int j = 0; j < 16; j++)
            {
                q[j] = (byte)(qs[j] & 0x0F);
                q[j + 16] = (byte)(qs[j] >> 4);
            }
        }
    }

    // Q4_1: d, m (2 + 2 bytes), qs (16 bytes); value = q * d + m.
    public static void DequantizeQ4_1(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / BlockSize; b++)
        {
            var block = source.Slice(b * 20, 20);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            float m = GgmlDequantizer.ReadHalf(block, 2);
            var qs = block.Slice(4, 16);
            var y = destination.Slice(b * BlockSize, BlockSize);
            for (int j = 0; j < 16; j++)
            {
                y[j] = (qs[j] & 0x0F) * d + m;
                y[j + 16] = (qs[j] >> 4) * d + m;
            }
        }
    }

    // Q5_0: d (2 bytes), qh (4 bytes), qs (16 bytes); value = (q - 16) * d with bit 4 of element j at bit j of qh.
    public static void DequantizeQ5_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / BlockSize; b++)
        {
            var block = source.Slice(b * 22, 22);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(2, 4));
            var qs = block.Slice(6, 16);
            var y = destination.Slice(b * BlockSize, BlockSize);
            for (int j = 0; j < 16; j++)
            {
                int high0 = (int)((qh >> j) << 4) & 0x10;
                int high1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((qs[j] & 0x0F) | high0) - 16) * d;
                y[j + 16] = (((qs[j] >> 4) | high1) - 16) * d;
            }
        }
    }

    // Q5_1: d, m (2 + 2 bytes), qh (4 bytes), qs (16 bytes); value = q * d + m.
    public static void DequantizeQ5_1(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / BlockSize; b++)
        {
            var block = source.Slice(b * 24, 24);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            float m = GgmlDequantizer.ReadHalf(block, 2);
            uint qh = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(4, 4));
            var qs = block.Slice(8, 16);
            var y = destination.Slice(b * BlockSize, BlockSize);
            for (int j = 0; j < 16; j++)
            {
                int high0 = (int)((qh >> j) << 4) & 0x10;
                int high1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((qs[j] & 0x0F) | high0) * d + m;
                y[j + 16] = ((qs[j] >> 4) | high1) * d + m;
            }
        }
    }

    // Q8_0: d (2 bytes), qs (32 signed bytes); value = q * d.
    public static void DequantizeQ8_0(ReadOnlySpan<byte> source, Span<float> destination)
    {
        for (int b = 0; b < destination.Length / BlockSize; b++)
        {
            var block = source.Slice(b * 34, 34);
            float d = GgmlDequantizer.ReadHalf(block, 0);
            var y = destination.Slice(b * BlockSize, BlockSize);
            for (int j = 0; j < BlockSize; j++) y[j] = (sbyte)block[2 + j] * d;
        }
    }
}
