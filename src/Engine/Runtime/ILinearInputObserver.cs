namespace LlmCpu.Engine.Runtime;

/// <summary>The four matrices of a decoder layer, by the input they multiply.</summary>
public enum LinearInput
{
    /// <summary>The attention norm's output, multiplied by the stacked Q, K and V projections.</summary>
    QueryKeyValue,

    /// <summary>The attention output, multiplied by the output projection.</summary>
    AttentionOutput,

    /// <summary>The feed-forward norm's output, multiplied by the stacked gate and up projections.</summary>
    GateUp,

    /// <summary>The gated activation, multiplied by the down projection.</summary>
    Down,
}

/// <summary>
/// Sees the input of every layer matrix as the forward pass computes it: how calibrated quantization recipes collect
/// activations with the engine's own forward pass instead of a second implementation of it.
/// </summary>
public interface ILinearInputObserver
{
    /// <param name="layer">The decoder layer, from 0.</param>
    /// <param name="matrix">Which of the layer's matrices the input is for.</param>
    /// <param name="input">(tokens, columns) row-major, valid only during the call.</param>
    /// <param name="tokens">Rows of <paramref name="input"/>.</param>
    void Observe(int layer, LinearInput matrix, ReadOnlySpan<float> input, int tokens);
}
