using System.Buffers.Binary;
using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Rows of random ggml blocks of any type the engine reads: random code bits with small, sane FP16 scales written
/// where each block layout keeps them (ggml's block structs), so that the values are realistic weights. The engine's
/// <see cref="GgmlDequantizer"/> (checked against ggml's reference elsewhere) says what they decode to.
/// </summary>
public static class RandomGgmlBlocks
{
    public static byte[] Create(GgmlType type, int rows, int columns, Random random)
    {
        if (type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
        {
            var bytes = new byte[(long)rows * columns * (type == GgmlType.F32 ? 4 : 2)];
            for (int i = 0; i < rows * columns; i++)
            {
                float value = (float)(random.NextDouble() - 0.5) * 0.2f;
                switch (type)
                {
                    case GgmlType.F32: BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), value); break;
                    case GgmlType.F16: BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)value); break;
                    default: BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)(BitConverter.SingleToUInt32Bits(value) >> 16)); break;
                }
            }
            return bytes;
        }
        if (!GgmlTypeInfo.TryGetBlock(type, out int blockSize, out int blockBytes) || columns % blockSize != 0)
            throw new ArgumentException($"{type} rows of {columns} values are not whole blocks.");
        var data = new byte[(long)rows * (columns / blockSize) * blockBytes];
        random.NextBytes(data);
        for (long offset = 0; offset < data.Length; offset += blockBytes)
        {
            var block = data.AsSpan((int)offset, blockBytes);
            foreach (var (at, value) in Scales(type, blockBytes, random)) BinaryPrimitives.WriteHalfLittleEndian(block[at..], value);
        }
        return data;
    }

    /// <summary>Where a block keeps its FP16 scale (and minimum), per ggml's block structs.</summary>
    private static IEnumerable<(int Offset, Half Value)> Scales(GgmlType type, int blockBytes, Random random)
    {
        Half Small() => (Half)(0.002 + random.NextDouble() * 0.01);
        Half Minimum() => (Half)(random.NextDouble() * 0.05);
        return type switch
        {
            GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => [(0, Small())],
            GgmlType.Q4_1 or GgmlType.Q5_1 => [(0, Small()), (2, Minimum())],
            GgmlType.Q4_K or GgmlType.Q5_K => [(0, (Half)(0.0002 + random.NextDouble() * 0.001)), (2, (Half)(random.NextDouble() * 0.001))],
            GgmlType.Q6_K => [(blockBytes - 2, (Half)(0.0002 + random.NextDouble() * 0.0005))],
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no random blocks for this type"),
        };
    }
}
