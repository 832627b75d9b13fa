using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// What one decoder layer's four matrices saw of the calibration text: an accumulator per input
/// (<see cref="CalibrationActivations.Observe"/> fills one).
/// </summary>
public sealed class LayerStatistics
{
    private readonly HessianAccumulator[] _inputs;

    public LayerStatistics(ModelConfig config)
    {
        int dim = config.EmbeddingLength;
        _inputs = [new(dim), new(dim), new(dim), new(config.FeedForwardLength)];
    }

    public HessianAccumulator this[LinearInput input] => _inputs[(int)input];

    /// <summary>
    /// The calibration windows' hidden states at the layer's input ((window tokens, dim) each), for the recipes that
    /// train on the whole block's output (<see cref="BlockTrainingSet"/>); valid only until the states move on to the
    /// next layer. Null where only the sums were collected.
    /// </summary>
    internal IReadOnlyList<float[]>? LayerInputs { get; init; }

    /// <summary>
    /// The float model's output of this layer for the same windows (the float layers all the way from the embedding),
    /// where the calibration carries them (<see cref="SignedDescentOptions.FloatModelTargets"/>); null otherwise.
    /// </summary>
    internal IReadOnlyList<float[]>? FloatModelOutputs { get; init; }
}
