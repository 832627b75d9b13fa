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
        $"Q4 {(GroupSize == PerChannel ? "per-channel" : "g" + GroupSize)} {(Asymmetric ? "asym" : "sym")}{Suffix(Recipe)}";

    private static string Suffix(Int4Recipe recipe) => recipe switch
    {
        Int4Recipe.RoundToNearest => "",
        Int4Recipe.MinimizeError => " mse",
        _ => " " + recipe.ToString().ToLowerInvariant(),
    };

    /// <summary>Bits stored per weight, scales and zero points counted (FP16 scale and 8-bit zero point per group).</summary>
    public double BitsPerWeight(int columns)
    {
        int group = GroupSize == PerChannel ? columns : GroupSize;
        return 4 + (16 + (Asymmetric ? 8 : 0)) / (double)group;
    }
}

/// <summary>How each group's scale (and zero point) is chosen.</summary>
public enum Int4Recipe
{
    /// <summary>The scale maps the largest magnitude (or the range) onto the code range: ggml's Q4_0 rule when symmetric.</summary>
    RoundToNearest,

    /// <summary>The scale among a set of slightly smaller candidates that minimizes the group's squared error (clipping outliers when it pays).</summary>
    MinimizeError,

    /// <summary>
    /// GPTQ: columns quantized one at a time, each one's rounding error spread over the columns not yet quantized
    /// through the inverse Hessian of the layer's calibration inputs. Needs calibration text.
    /// </summary>
    Gptq,

    /// <summary>
    /// AWQ: per-input-channel scales searched on calibration activations and folded into the preceding norm or
    /// projection, then a clipping search per group. Needs calibration text.
    /// </summary>
    Awq,

    /// <summary>
    /// TEQ: per-input-channel scales trained through the rounding on calibration activations and folded into the
    /// preceding norm or projection as AWQ's are, then round-to-nearest. Needs calibration text.
    /// </summary>
    Teq,

    /// <summary>
    /// SignRound: per-weight rounding offsets and per-group clipping factors trained by signed gradient descent on the
    /// matrix's output error over calibration activations. Needs calibration text.
    /// </summary>
    SignRound,

    /// <summary>Tries recipes and group sizes from the fewest bits up and keeps the smallest within the accuracy bound. Conversion only.</summary>
    Auto,
}

/// <summary>What each recipe needs.</summary>
public static class Int4RecipeFacts
{
    /// <summary>Whether the recipe quantizes each group on its own, from the weights alone (so a loader can do it a row at a time).</summary>
    public static bool IsWeightOnly(this Int4Recipe recipe) => recipe is Int4Recipe.RoundToNearest or Int4Recipe.MinimizeError;

    /// <summary>Whether the recipe needs activations from calibration text.</summary>
    public static bool NeedsCalibration(this Int4Recipe recipe) => recipe is Int4Recipe.Gptq or Int4Recipe.Awq or Int4Recipe.Teq or Int4Recipe.SignRound;
}

/// <summary>How activations meet INT4 weights in a multiplication.</summary>
public enum ActivationMode
{
    /// <summary>Activations stay FP32; weights are dequantized on the fly.</summary>
    Float32,

    /// <summary>Activations are quantized per block to INT8 on the fly (dynamic, symmetric) and multiplied in integers.</summary>
    Int8,
}
