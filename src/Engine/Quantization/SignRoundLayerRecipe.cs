using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>SignRound on each of a layer's four matrices, each with the Hessian of its own inputs (<see cref="SignRoundQuantizer"/>).</summary>
internal sealed class SignRoundLayerRecipe(LayerFormat format, ActivationMode activations, WorkerPool pool, CancellationToken cancellation,
    SignedDescentOptions? options = null) : ILayerRecipe
{
    private readonly SignedDescentOptions _options = options ?? SignedDescentOptions.SignRound;

    public LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics) =>
        LayerRecipe.DisposingOnFailure(keep =>
        {
            WeightMatrix Matrix(WeightMatrix source, LinearInput input)
            {
                var h = QuadraticError.ToFloat(statistics[input].Hessian());
                return keep(SignRoundQuantizer.Quantize(FloatRows.Of(source), source.Rows, source.Columns, h, format[input], activations, pool, _options, cancellation));
            }
            return layer.With(Matrix(layer.QueryKeyValue, LinearInput.QueryKeyValue), Matrix(layer.AttentionOutput, LinearInput.AttentionOutput),
                Matrix(layer.GateUp, LinearInput.GateUp), Matrix(layer.Down, LinearInput.Down));
        });
}
