using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Quantization;

/// <summary>A recipe that quantizes a whole decoder layer at once from what its inputs were on calibration text.</summary>
internal interface ILayerRecipe
{
    /// <summary>
    /// The layer with its four matrices in INT4 (new matrices; <paramref name="layer"/> is left as it is). A recipe
    /// may also return new norm weights, where it folds scales into them.
    /// </summary>
    LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics);
}
