using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// One decoder layer. Q, K and V are stacked into one matrix (rows: Q then K then V) and so are the gate and up
/// projections (rows: gate then up), so each takes one pass over the activations and one hand-off to the workers.
/// Biases and the second norm are null where the architecture has none.
/// </summary>
public sealed class LayerWeights : IDisposable
{
    public required float[] AttentionNorm { get; init; }

    public float[]? AttentionNormBias { get; init; }

    /// <summary>(dim + 2 * kvDim, dim)</summary>
    public required WeightMatrix QueryKeyValue { get; init; }

    /// <summary>(dim + 2 * kvDim), in the order of the rows of <see cref="QueryKeyValue"/>.</summary>
    public float[]? QueryKeyValueBias { get; init; }

    /// <summary>(dim, dim)</summary>
    public required WeightMatrix AttentionOutput { get; init; }

    public float[]? AttentionOutputBias { get; init; }

    /// <summary>The feed-forward network's own norm; null where the attention norm feeds both branches.</summary>
    public float[]? FeedForwardNorm { get; init; }

    public float[]? FeedForwardNormBias { get; init; }

    /// <summary>(2 * ffn, dim), gate then up, when the network is gated; (ffn, dim), up alone, when it is not.</summary>
    public required WeightMatrix GateUp { get; init; }

    /// <summary>In the order of the rows of <see cref="GateUp"/>.</summary>
    public float[]? GateUpBias { get; init; }

    /// <summary>(dim, ffn)</summary>
    public required WeightMatrix Down { get; init; }

    public float[]? DownBias { get; init; }

    public IEnumerable<WeightMatrix> Matrices => [QueryKeyValue, AttentionOutput, GateUp, Down];

    /// <summary>
    /// This layer with other matrices (quantized ones, say), and other norm weights where given (a recipe that folds
    /// scales into them); the biases and everything else are this layer's.
    /// </summary>
    public LayerWeights With(WeightMatrix queryKeyValue, WeightMatrix attentionOutput, WeightMatrix gateUp, WeightMatrix down,
        float[]? attentionNorm = null, float[]? feedForwardNorm = null) => new()
    {
        AttentionNorm = attentionNorm ?? AttentionNorm, AttentionNormBias = AttentionNormBias,
        QueryKeyValue = queryKeyValue, QueryKeyValueBias = QueryKeyValueBias,
        AttentionOutput = attentionOutput, AttentionOutputBias = AttentionOutputBias,
        FeedForwardNorm = feedForwardNorm ?? FeedForwardNorm, FeedForwardNormBias = FeedForwardNormBias,
        GateUp = gateUp, GateUpBias = GateUpBias,
        Down = down, DownBias = DownBias,
    };

    /// <summary>Norm weights and biases present in this layer.</summary>
    public IEnumerable<float[]> Vectors =>
        new[] { AttentionNorm, AttentionNormBias, QueryKeyValueBias, AttentionOutputBias, FeedForwardNorm, FeedForwardNormBias, GateUpBias, DownBias }
            .Where(v => v != null)!;

    public void Dispose()
    {
        foreach (var matrix in Matrices) matrix.Dispose();
    }
}

public sealed class ModelWeights(WeightMatrix tokenEmbedding, LayerWeights[] layers, float[] outputNorm, WeightMatrix output,
    float[]? outputNormBias = null, float[]? outputBias = null) : IDisposable
{
    /// <summary>(vocab, dim); rows are looked up, never multiplied.</summary>
    public WeightMatrix TokenEmbedding { get; } = tokenEmbedding;

    public IReadOnlyList<LayerWeights> Layers { get; } = layers;

    public float[] OutputNorm { get; } = outputNorm;

    public float[]? OutputNormBias { get; } = outputNormBias;

    /// <summary>(vocab, dim)</summary>
    public WeightMatrix Output { get; } = output;

    /// <summary>(vocab), or null.</summary>
    public float[]? OutputBias { get; } = outputBias;

    public long ByteSize => TokenEmbedding.ByteSize + Output.ByteSize + Layers.Sum(l => l.Matrices.Sum(m => m.ByteSize));

    /// <summary>Bytes of weights held in memory the engine allocated (copies and conversions), not counting mapped file pages.</summary>
    public long OwnedBytes =>
        TokenEmbedding.OwnedBytes + (ReferenceEquals(Output, TokenEmbedding) ? 0 : Output.OwnedBytes)
        + Layers.Sum(l => l.Matrices.Sum(m => m.OwnedBytes) + l.Vectors.Sum(v => (long)v.Length) * sizeof(float))
        + ((long)OutputNorm.Length + (OutputNormBias?.Length ?? 0) + (OutputBias?.Length ?? 0)) * sizeof(float);

    /// <summary>Bytes of weight matrices used in place from a memory-mapped file.</summary>
    public long MappedBytes => AllMatrices.Where(m => m.OwnedBytes == 0).Sum(m => m.ByteSize);

    private IEnumerable<WeightMatrix> AllMatrices =>
        Layers.SelectMany(l => l.Matrices).Append(TokenEmbedding).Concat(ReferenceEquals(Output, TokenEmbedding) ? [] : [Output]);

    /// <summary>
    /// Matrices these weights use but do not own (a converted model sharing the unchanged matrices of its source):
    /// <see cref="Dispose"/> leaves them to their owner.
    /// </summary>
    public IReadOnlySet<WeightMatrix> Borrowed { get; init; } = new HashSet<WeightMatrix>();

    public void Dispose()
    {
        foreach (var matrix in AllMatrices)
        {
            if (!Borrowed.Contains(matrix)) matrix.Dispose();
        }
    }
}
