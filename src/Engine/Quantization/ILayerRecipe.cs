using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Quantization;

/// <summary>A recipe that quantizes a whole decoder layer at once from what its inputs were on calibration text.</summary>
internal interface ILayerRecipe
{
    /// <summary>
    /// The layer with its four matrices in INT4 (new matrices; <paramref name="layer"/> is left as it is). A recipe
    /// may also return new norm weights, where it folds scales into them.
    /// </summary>
    LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics);

    /// <summary>Whether the calibration should carry the float model's states too (<see cref="LayerStatistics.FloatModelOutputs"/>).</summary>
    bool WantsFloatModelOutputs => false;
}

/// <summary>What every layer recipe does around its four matrices.</summary>
internal static class LayerRecipe
{
    /// <summary>
    /// Runs <paramref name="build"/>, which passes each matrix it makes through the function it is given; if building
    /// fails midway (cancellation, a numeric error), the matrices made so far are disposed, so none leaks.
    /// </summary>
    public static LayerWeights DisposingOnFailure(Func<Func<WeightMatrix, WeightMatrix>, LayerWeights> build)
    {
        var made = new List<WeightMatrix>();
        try
        {
            return build(matrix =>
            {
                made.Add(matrix);
                return matrix;
            });
        }
        catch
        {
            foreach (var matrix in made) matrix.Dispose();
            throw;
        }
    }
}
