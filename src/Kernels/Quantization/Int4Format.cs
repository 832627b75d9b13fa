namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How a matrix is quantized to 4 bits: the group size (weights sharing one scale along a row; -1 for one scale
/// per row), and whether each group also has a zero point (asymmetric) or uses the implicit zero point 8 (symmetric).
/// Scales are stored as FP16.
/// </summary>
public readonly record struct Int4Format(int GroupSize, bool Asymmetric, Int4Recipe Recipe = Int4Recipe.RoundToNearest)
{
    public const int PerChannel = -1;

    public static Int4Format Default { get; } = new(128, false);

    public void Validate()
    {
        if (GroupSize is not (32 or 64 or 128 or PerChannel))
            throw new ArgumentOutOfRangeException(nameof(GroupSize), GroupSize, "Group size must be 32, 64, 128 or -1 (per channel).");
    }

    public override string ToString() =>
        $"Q4 {(GroupSize == PerChannel ? "per-channel" : "g" + GroupSize)} {(Asymmetric ? "asym" : "sym")}{(Recipe == Int4Recipe.MinimizeError ? " mse" : "")}";
}

/// <summary>How each group's scale (and zero point) is chosen.</summary>
public enum Int4Recipe
{
    /// <summary>The scale maps the largest magnitude (or the range) onto the code range: ggml's Q4_0 rule when symmetric.</summary>
    RoundToNearest,

    /// <summary>The scale among a set of slightly smaller candidates that minimizes the group's squared error (clipping outliers when it pays).</summary>
    MinimizeError,
}

/// <summary>How activations meet INT4 weights in a multiplication.</summary>
public enum ActivationMode
{
    /// <summary>Activations stay FP32; weights are dequantized on the fly.</summary>
    Float32,

    /// <summary>Activations are quantized per block to INT8 on the fly (dynamic, symmetric) and multiplied in integers.</summary>
    Int8,
}
