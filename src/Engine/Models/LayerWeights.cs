using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// One decoder layer. Q, K and V are stacked into one matrix (rows: Q then K then V) and so are the gate and up
/// projections (rows: gate then up), so each takes one pass over the activations and one hand-off to the workers.
/// </summary>
public sealed class LayerWeights(float[] attentionNorm, WeightMatrix queryKeyValue, WeightMatrix attentionOutput,
    float[] feedForwardNorm, WeightMatrix gateUp, WeightMatrix down) : IDisposable
{
    public float[] AttentionNorm { get; } = attentionNorm;

    /// <summary>(dim + 2 * kvDim, dim)</summary>
    public WeightMatrix QueryKeyValue { get; } = queryKeyValue;

    /// <summary>(dim, dim)</summary>
    public WeightMatrix AttentionOutput { get; } = attentionOutput;

    public float[] FeedForwardNorm { get; } = feedForwardNorm;

    /// <summary>(2 * ffn, dim)</summary>
    public WeightMatrix GateUp { get; } = gateUp;

    /// <summary>(dim, ffn)</summary>
    public WeightMatrix Down { get; } = down;

    public IEnumerable<WeightMatrix> Matrices => [QueryKeyValue, AttentionOutput, GateUp, Down];

    public void Dispose()
    {
        foreach (var matrix in Matrices) matrix.Dispose();
    }
}

public sealed class ModelWeights(WeightMatrix tokenEmbedding, LayerWeights[] layers, float[] outputNorm, WeightMatrix output) : IDisposable
{
    /// <summary>(vocab, dim); rows are looked up, never multiplied.</summary>
    public WeightMatrix TokenEmbedding { get; } = tokenEmbedding;

    public IReadOnlyList<LayerWeights> Layers { get; } = layers;

    public float[] OutputNorm { get; } = outputNorm;

    /// <summary>(vocab, dim)</summary>
    public WeightMatrix Output { get; } = output;

    public long ByteSize => TokenEmbedding.ByteSize + Output.ByteSize + Layers.Sum(l => l.Matrices.Sum(m => m.ByteSize));

    /// <summary>Bytes of weights held in memory the engine allocated (copies and conversions), not counting mapped file pages.</summary>
    public long OwnedBytes =>
        TokenEmbedding.OwnedBytes + (ReferenceEquals(Output, TokenEmbedding) ? 0 : Output.OwnedBytes)
        + Layers.Sum(l => l.Matrices.Sum(m => m.OwnedBytes) + (l.AttentionNorm.Length + l.FeedForwardNorm.Length) * sizeof(float))
        + OutputNorm.Length * sizeof(float);

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
