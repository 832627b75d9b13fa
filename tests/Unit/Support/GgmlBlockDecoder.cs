using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Tests.Support;

/// <summary>Rows of ggml blocks back to FP32 through the engine's dequantizer, for comparing quantizers with it.</summary>
public static class GgmlBlockDecoder
{
    public static float[] DecodeQ8_0(ReadOnlySpan<byte> row) => Decode(GgmlType.Q8_0, row);

    public static float[] DecodeQ4_0(ReadOnlySpan<byte> row) => Decode(GgmlType.Q4_0, row);

    private static float[] Decode(GgmlType type, ReadOnlySpan<byte> row)
    {
        var values = new float[row.Length / type.BlockBytes() * type.BlockSize()];
        GgmlDequantizer.Dequantize(type, row, values);
        return values;
    }
}
