using System.Buffers.Binary;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Encodes rows of FP32 values as ggml stores them, bit for bit as ggml's reference quantizers do (the ones it
/// uses to create model files), so that a file written here equals one written by ggml from the same values.
/// <list type="bullet">
/// <item>Q8_0: blocks of 32; fp16 d = amax / 127, then 32 int8 q = round(x / d), halves away from zero.</item>
/// <item>Q4_0: blocks of 32; fp16 d = max / -8 where max is the signed value of largest magnitude, then
/// q = min(15, trunc(x / d + 8.5)); byte j holds element j in its low nibble and element j + 16 in its high one.</item>
/// </list>
/// In both, x / d is computed as x * (1 / d) with d before rounding to fp16, as ggml does.
/// </summary>
public static class GgmlQuantizer
{
    public const int BlockSize = 32;

    /// <summary>The row types this quantizer writes.</summary>
    public static bool CanEncode(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <summary>Bytes of one row of <paramref name="columns"/> values in <paramref name="type"/>.</summary>
    public static int RowBytes(GgmlType type, int columns) => checked((int)type.ByteCount(columns));

    /// <summary>Encodes <paramref name="row"/> into <paramref name="destination"/> (<see cref="RowBytes"/> bytes).</summary>
    public static void Encode(GgmlType type, ReadOnlySpan<float> row, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32: EncodeF32(row, destination); break;
            case GgmlType.F16: EncodeF16(row, destination); break;
            case GgmlType.Q8_0: QuantizeQ8_0(row, destination); break;
            case GgmlType.Q4_0: QuantizeQ4_0(row, destination); break;
            default: throw new ArgumentOutOfRangeException(nameof(type), type, "Rows can be encoded as F32, F16, Q8_0 or Q4_0.");
        }
    }

    public static void EncodeF32(ReadOnlySpan<float> row, Span<byte> destination)
    {
        CheckLength(GgmlType.F32, row, destination);
        for (int i = 0; i < row.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(i * 4), row[i]);
    }

    /// <summary>IEEE half precision, rounded to nearest even, as ggml's FP32-to-FP16 conversion rounds.</summary>
    public static void EncodeF16(ReadOnlySpan<float> row, Span<byte> destination)
    {
        CheckLength(GgmlType.F16, row, destination);
        for (int i = 0; i < row.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(destination.Slice(i * 2), (Half)row[i]);
    }

    public static void QuantizeQ8_0(ReadOnlySpan<float> row, Span<byte> destination)
    {
        CheckLength(GgmlType.Q8_0, row, destination);
        const int blockBytes = 2 + BlockSize;
        for (int b = 0; b < row.Length / BlockSize; b++)
        {
            var x = row.Slice(b * BlockSize, BlockSize);
            var block = destination.Slice(b * blockBytes, blockBytes);
            float amax = 0;
            foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
            for (int j = 0; j < BlockSize; j++)
                block[2 + j] = unchecked((byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero));
        }
    }

    public static void QuantizeQ4_0(ReadOnlySpan<float> row, Span<byte> destination)
    {
        CheckLength(GgmlType.Q4_0, row, destination);
        const int blockBytes = 2 + BlockSize / 2;
        for (int b = 0; b < row.Length / BlockSize; b++)
        {
            var x = row.Slice(b * BlockSize, BlockSize);
            var block = destination.Slice(b * blockBytes, blockBytes);
            float amax = 0, max = 0;
            foreach (float v in x)
            {
                // Strictly greater: the first of equal magnitudes wins, so its sign decides d's.
                if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
            }
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
            for (int j = 0; j < BlockSize / 2; j++)
            {
                int low = Nibble(x[j] * id);
                int high = Nibble(x[j + BlockSize / 2] * id);
                block[2 + j] = (byte)(low | high << 4);
            }
        }
    }

    // x * id lies in [-8, 8], so x * id + 8.5 is positive and truncation is floor: round half up, then 16 -> 15.
    private static int Nibble(float scaled) => Math.Min(15, (int)(scaled + 8.5f));

    private static void CheckLength(GgmlType type, ReadOnlySpan<float> row, Span<byte> destination)
    {
        int bytes = RowBytes(type, row.Length);
        if (destination.Length != bytes)
            throw new ArgumentException($"A {type} row of {row.Length} values takes {bytes} bytes; the destination has {destination.Length}.", nameof(destination));
    }
}
