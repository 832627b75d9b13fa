namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// How many elements one storage block of a ggml type holds and how many bytes it takes, as ggml defines them.
/// A row of a tensor is always a whole number of blocks, so its byte size follows from its length.
/// </summary>
public static class GgmlBlockLayout
{
    public static int ElementsPerBlock(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K => 256,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml type this library knows."),
    };

    public static int BytesPerBlock(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q4_0 => 2 + 16,          // fp16 scale, 32 nibbles
        GgmlType.Q4_1 => 2 + 2 + 16,      // fp16 scale and minimum, 32 nibbles
        GgmlType.Q5_0 => 2 + 4 + 16,      // fp16 scale, 32 high bits, 32 nibbles
        GgmlType.Q5_1 => 2 + 2 + 4 + 16,
        GgmlType.Q8_0 => 2 + 32,          // fp16 scale, 32 signed bytes
        GgmlType.Q8_1 => 2 + 2 + 32,      // fp16 scale and sum, 32 signed bytes
        GgmlType.Q2_K => 84,
        GgmlType.Q3_K => 110,
        GgmlType.Q4_K => 144,
        GgmlType.Q5_K => 176,
        GgmlType.Q6_K => 210,
        GgmlType.Q8_K => 292,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml type this library knows."),
    };

    /// <summary>Bytes of <paramref name="elements"/> consecutive elements; they must fill whole blocks.</summary>
    public static long ByteCount(GgmlType type, long elements)
    {
        int perBlock = ElementsPerBlock(type);
        if (elements < 0 || elements % perBlock != 0)
            throw new ArgumentException($"{elements} elements are not a whole number of {type} blocks of {perBlock}.", nameof(elements));
        return checked(elements / perBlock * BytesPerBlock(type));
    }
}
