namespace LlmCpu.Engine.Formats;

/// <summary>Element types of unquantized tensors in model files.</summary>
public enum TensorType
{
    F32,
    F16,
    BF16,
}

public static class TensorTypeExtensions
{
    public static int ElementSize(this TensorType type) => type switch
    {
        TensorType.F32 => 4,
        TensorType.F16 or TensorType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}
