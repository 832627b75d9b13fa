using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Quantization;

/// <summary>A decoder layer's weights as FP32 arrays, to be rescaled before quantizing. Shapes as in <see cref="LayerWeights"/>.</summary>
internal sealed class FloatLayer
{
    /// <summary>The layer these are copies of: its biases (which rescaling leaves alone) come from it.</summary>
    public required LayerWeights Source { get; init; }

    public required float[] AttentionNorm { get; init; }

    /// <summary>(dim + 2 kvDim, dim): Q rows, then K, then V.</summary>
    public required float[] QueryKeyValue { get; init; }

    /// <summary>(dim, dim)</summary>
    public required float[] AttentionOutput { get; init; }

    public required float[] FeedForwardNorm { get; init; }

    /// <summary>(2 ffn, dim): gate rows, then up.</summary>
    public required float[] GateUp { get; init; }

    /// <summary>(dim, ffn)</summary>
    public required float[] Down { get; init; }

    /// <summary>Copies of <paramref name="layer"/>'s weights (its norms included), whatever the matrices are stored as.</summary>
    public static FloatLayer Of(LayerWeights layer) => new()
    {
        Source = layer,
        AttentionNorm = (float[])layer.AttentionNorm.Clone(),
        QueryKeyValue = FloatRows.Of(layer.QueryKeyValue),
        AttentionOutput = FloatRows.Of(layer.AttentionOutput),
        FeedForwardNorm = (float[])(layer.FeedForwardNorm ?? throw new ArgumentException("The layer has no feed-forward norm to fold scales into.", nameof(layer))).Clone(),
        GateUp = FloatRows.Of(layer.GateUp),
        Down = FloatRows.Of(layer.Down),
    };

    /// <summary>The layer as FP32 matrices (for checking that rescaling leaves the model's output unchanged).</summary>
    public LayerWeights ToFloat32(ModelConfig config)
    {
        int dim = config.EmbeddingLength, ffn = config.FeedForwardLength;
        return Source.With(Float32Matrix.FromRowMajor(QueryKeyValue, dim + 2 * config.KvDim, dim),
            Float32Matrix.FromRowMajor(AttentionOutput, dim, dim), Float32Matrix.FromRowMajor(GateUp, 2 * ffn, dim),
            Float32Matrix.FromRowMajor(Down, dim, ffn), AttentionNorm, FeedForwardNorm);
    }
}
