namespace LlmCpu.Engine.Formats;

/// <summary>Element types of tensors in safetensors files: weights (F32, F16, BF16) and the 32-bit words of packed 4-bit codes (I32).</summary>
public enum TensorType
{
    F32,
    F16,
    BF16,

    /// <summary>Signed 32-bit integers: a GPTQ or AWQ checkpoint's packed codes, zero points and group indices. Never read as weights.</summary>
    I32,
}

public static class TensorTypeExtensions
{
    public static int ElementSize(this TensorType type) => type switch
    {
        TensorType.F32 or TensorType.I32 => 4,
        TensorType.F16 or TensorType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
