using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// SignRound on a decoder layer: its four matrices trained together on the whole block's output error over the
/// calibration windows (<see cref="SignRoundBlockTraining"/>), as the paper does. Where the block is not one
/// <see cref="DecoderBlockGradient"/> runs (LayerNorms, parallel residuals, a feed-forward network that is not SwiGLU),
/// or no layer inputs came with the statistics, each matrix is trained on its own output error with the Hessian of its
/// inputs instead (<see cref="SignRoundQuantizer"/>).
/// </summary>
internal sealed class SignRoundLayerRecipe(LayerFormat format, ActivationMode activations, WorkerPool pool, ModelConfig config, IEngineLog log,
    CancellationToken cancellation, SignedDescentOptions? options = null) : ILayerRecipe
{
    private readonly SignedDescentOptions _options = options ?? SignedDescentOptions.SignRound;

    public bool WantsFloatModelOutputs => BlockTrainingSet.WantsFloatModelOutputs(config, _options);

    public LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics)
    {
        if (BlockTrainingSet.Runs(config, statistics)) return BlockWise(index, layer, statistics);
        if (index == 0 && DecoderBlockGradient.CannotRun(config) is { } why)
            log.Verbose($"SignRound trains each matrix on its own output error, not the block's: the block-wise loss is written for Llama-layout blocks ({config.Architecture}: {why}).");
        return MatrixWise(layer, statistics);
    }

    private LayerWeights BlockWise(int index, LayerWeights layer, LayerStatistics statistics) =>
        LayerRecipe.DisposingOnFailure(keep =>
        {
            long start = Stopwatch.GetTimestamp();
            var set = new BlockTrainingSet(config, layer, statistics, _options, pool, cancellation);
            var f = FloatLayer.Of(layer);
            float[][] weights = [f.QueryKeyValue, f.AttentionOutput, f.GateUp, f.Down];
            var sources = new[] { layer.QueryKeyValue, layer.AttentionOutput, layer.GateUp, layer.Down };
            var targets = Enum.GetValues<LinearInput>().Select(input =>
                (Int4Matrix)keep(new Int4Matrix(sources[(int)input].Rows, sources[(int)input].Columns, format[input] with { Recipe = Int4Recipe.SignRound }, activations))).ToArray();
            var (rtn, trained) = SignRoundBlockTraining.Train(weights, targets, set, pool, _options, cancellation);
            log.Verbose($"Layer {index + 1}: SignRound's block output error {trained:G4} (round-to-nearest {rtn:G4}) after {_options.Steps} steps of " +
                        $"{Math.Min(_options.BatchWindows, set.Windows)} windows towards {set.Target}, in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s.");
            return layer.With(targets[0], targets[1], targets[2], targets[3]);
        });

    private LayerWeights MatrixWise(LayerWeights layer, LayerStatistics statistics) =>
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
