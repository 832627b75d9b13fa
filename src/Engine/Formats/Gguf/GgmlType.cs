namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Tensor element types as ggml numbers them in GGUF files. Ids 4 and 5 (Q4_2, Q4_3) and 31-33, 36-38
/// (interleaved repacks) were withdrawn from the file format and are absent on purpose.
/// </summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
    MXFP4 = 39,
}

/// <summary>Block geometry of each ggml type: elements per block and bytes per block.</summary>
public static class GgmlTypeInfo
{
    /// <summary>Elements in a K-quant super-block.</summary>
    public const int SuperBlockSize = 256;

    /// <summary>
    /// Elements per block and bytes per block of <paramref name="type"/>; false for ids this reader does not know,
    /// whose tensors' sizes (and so the file's layout) cannot be checked.
    /// </summary>
    public static bool TryGetBlock(GgmlType type, out int blockSize, out int blockBytes)
    {
        (blockSize, blockBytes) = type switch
        {
            GgmlType.F32 => (1, 4),
            GgmlType.F16 => (1, 2),
            GgmlType.BF16 => (1, 2),
            GgmlType.F64 => (1, 8),
            GgmlType.I8 => (1, 1),
            GgmlType.I16 => (1, 2),
            GgmlType.I32 => (1, 4),
            GgmlType.I64 => (1, 8),
            GgmlType.Q4_0 => (32, 18),
            GgmlType.Q4_1 => (32, 20),
            GgmlType.Q5_0 => (32, 22),
            GgmlType.Q5_1 => (32, 24),
            GgmlType.Q8_0 => (32, 34),
            GgmlType.Q8_1 => (32, 36),
            GgmlType.IQ4_NL => (32, 18),
            GgmlType.MXFP4 => (32, 17),
            GgmlType.Q2_K => (SuperBlockSize, 84),
            GgmlType.Q3_K => (SuperBlockSize, 110),
            GgmlType.Q4_K => (SuperBlockSize, 144),
            GgmlType.Q5_K => (SuperBlockSize, 176),
            GgmlType.Q6_K => (SuperBlockSize, 210),
            GgmlType.Q8_K => (SuperBlockSize, 292),
            GgmlType.IQ2_XXS => (SuperBlockSize, 66),
            GgmlType.IQ2_XS => (SuperBlockSize, 74),
            GgmlType.IQ2_S => (SuperBlockSize, 82),
            GgmlType.IQ3_XXS => (SuperBlockSize, 98),
            GgmlType.IQ3_S => (SuperBlockSize, 110),
            GgmlType.IQ1_S => (SuperBlockSize, 50),
            GgmlType.IQ1_M => (SuperBlockSize, 56),
            GgmlType.IQ4_XS => (SuperBlockSize, 136),
            GgmlType.TQ1_0 => (SuperBlockSize, 54),
            GgmlType.TQ2_0 => (SuperBlockSize, 66),
            _ => (0, 0),
        };
        return blockSize != 0;
    }

    public static int BlockSize(this GgmlType type) =>
        TryGetBlock(type, out int size, out _) ? size : throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml type.");

    public static int BlockBytes(this GgmlType type) =>
        TryGetBlock(type, out _, out int bytes) ? bytes : throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml type.");

    /// <summary>Bytes of <paramref name="elements"/> elements; <paramref name="elements"/> must be a whole number of blocks.</summary>
    public static long ByteCount(this GgmlType type, long elements)
    {
        int perBlock = type.BlockSize();
        if (elements < 0 || elements % perBlock != 0)
            throw new ArgumentException($"{elements} elements are not a whole number of {type} blocks of {perBlock}.", nameof(elements));
        return checked(elements / perBlock * type.BlockBytes());
    }

    /// <summary>Whether <see cref="GgmlDequantizer"/> converts this type to FP32.</summary>
    public static bool CanDequantize(this GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>Whether the type stores quantized blocks (as opposed to plain floats or integers).</summary>
    public static bool IsQuantized(this GgmlType type) => TryGetBlock(type, out int size, out _) && size > 1;
}
