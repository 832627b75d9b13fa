namespace LlmCpu.Engine.Models;

/// <summary>How a file stores the query, key and value projections when it fuses them into one tensor.</summary>
public enum FusedQkvLayout
{
    /// <summary>All query rows, then all key rows, then all value rows (GGUF's attn_qkv).</summary>
    Stacked,

    /// <summary>Per head: its query, key and value rows, (heads, 3, headDim) (GPT-NeoX, Falcon without multi-query).</summary>
    PerHead,

    /// <summary>Per key/value head: its group's query heads, then its key, then its value (Falcon's multi-query and new decoder).</summary>
    PerKeyValueGroup,
}

/// <summary>
/// Where each weight of a family lives in one file format: tensor names without their ".weight" or ".bias" suffix,
/// "{0}" standing for the layer. A role the family lacks is null; which optional tensors (biases, the second norm, the
/// gate) a model has is said by its <see cref="ModelConfig"/>.
/// </summary>
public sealed record TensorNameTable
{
    public required string TokenEmbedding { get; init; }

    public required string OutputNorm { get; init; }

    public required string Output { get; init; }

    public required string AttentionNorm { get; init; }

    /// <summary>The feed-forward network's own norm (the second norm of a parallel layer).</summary>
    public string? FeedForwardNorm { get; init; }

    /// <summary>Separate projections; null where the file fuses them (<see cref="QueryKeyValue"/>).</summary>
    public string? Query { get; init; }

    public string? Key { get; init; }

    public string? Value { get; init; }

    public string? QueryKeyValue { get; init; }

    public FusedQkvLayout FusedLayout { get; init; } = FusedQkvLayout.Stacked;

    /// <summary>
    /// Whether the rows of Q and K are stored in llama.cpp's order for adjacent-pair rotation (its converter's
    /// permutation of Llama checkpoints), which readers undo to the engine's rotate-half order.
    /// </summary>
    public bool QueryKeyRowsInterleaved { get; init; }

    public required string AttentionOutput { get; init; }

    public string? Gate { get; init; }

    public required string Up { get; init; }

    public required string Down { get; init; }

    public static string Weight(string pattern, int layer = 0) => string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, layer) + ".weight";

    public static string Bias(string pattern, int layer = 0) => string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, layer) + ".bias";
}
