using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// TEQ on a decoder layer: scales for each matrix's input channels, folded into what precedes it (<see cref="AwqFolding"/>,
/// so the layout limits are AWQ's: <see cref="AwqLayerRecipe.CannotFold"/>), then round-to-nearest quantization of the
/// rescaled matrices, which is what the scales were trained through. The scales are trained all together on the whole
/// block's output error over the calibration windows (<see cref="TeqBlockTraining"/>), as the paper does; where the
/// block is not one <see cref="DecoderBlockGradient"/> runs, or no layer inputs came with the statistics, each
/// matrix's on its own output error (<see cref="TeqScaleTraining"/>) in AWQ's order (Q/K/V, attention output, gate/up,
/// down). The layer's norms are new arrays.
/// </summary>
internal sealed class TeqLayerRecipe(LayerFormat format, ActivationMode activations, WorkerPool pool, ModelConfig config, IEngineLog log,
    CancellationToken cancellation, SignedDescentOptions? options = null) : ILayerRecipe
{
    private readonly SignedDescentOptions _options = options ?? SignedDescentOptions.Teq;

    public bool WantsFloatModelOutputs => BlockTrainingSet.WantsFloatModelOutputs(config, _options);

    public LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics)
    {
        int dim = config.EmbeddingLength, ffn = config.FeedForwardLength, qkvRows = dim + 2 * config.KvDim;
        var f = TrainAndFold(layer, statistics, index);
        return LayerRecipe.DisposingOnFailure(keep =>
        {
            WeightMatrix Matrix(float[] weights, int rows, int columns, LinearInput kind)
            {
                // Kept before it is filled, so a failure while rounding disposes it too.
                var matrix = (Int4Matrix)keep(new Int4Matrix(rows, columns, format[kind] with { Recipe = Int4Recipe.Teq }, activations));
                pool.Run(new RoundToNearestJob(weights, columns, matrix), rows, Int4Matrix.TileRows);
                return matrix;
            }
            return layer.With(Matrix(f.QueryKeyValue, qkvRows, dim, LinearInput.QueryKeyValue), Matrix(f.AttentionOutput, dim, dim, LinearInput.AttentionOutput),
                Matrix(f.GateUp, 2 * ffn, dim, LinearInput.GateUp), Matrix(f.Down, dim, ffn, LinearInput.Down), f.AttentionNorm, f.FeedForwardNorm);
        });
    }

    /// <summary>Copies of the layer's weights with each matrix's trained scales folded in: the same function as the layer, before quantization.</summary>
    internal FloatLayer TrainAndFold(LayerWeights layer, LayerStatistics statistics, int index = 0)
    {
        int dim = config.EmbeddingLength, ffn = config.FeedForwardLength, qkvRows = dim + 2 * config.KvDim;
        var f = FloatLayer.Of(layer);
        if (BlockTrainingSet.Runs(config, statistics))
        {
            long start = Stopwatch.GetTimestamp();
            var set = new BlockTrainingSet(config, layer, statistics, _options, pool, cancellation);
            var s = TeqBlockTraining.Train([f.QueryKeyValue, f.AttentionOutput, f.GateUp, f.Down], format, config, set, pool, _options, cancellation);
            log.Verbose($"Layer {index + 1}: TEQ's block output error {s.Trained:G4} (round-to-nearest {s.RoundToNearest:G4}) after {_options.Steps} steps of " +
                        $"{Math.Min(_options.BatchWindows, set.Windows)} windows towards {set.Target}, in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s.");
            AwqFolding.QueryKeyValue(f, config, s.QueryKeyValue);
            AwqFolding.AttentionOutput(f, config, s.AttentionOutput);
            AwqFolding.GateUp(f, config, s.GateUp);
            AwqFolding.Down(f, config, s.Down);
            return f;
        }
        if (index == 0 && DecoderBlockGradient.CannotRun(config) is { } why)
            log.Verbose($"TEQ trains each matrix's scales on its own output error, not the block's: the block-wise loss is written for Llama-layout blocks ({config.Architecture}: {why}).");
        float[] Train(float[] weights, int rows, int columns, LinearInput input, int[]? ties) =>
            TeqScaleTraining.Train(weights, rows, columns, QuadraticError.ToFloat(statistics[input].Hessian()), ties, format[input], pool, _options, cancellation).Scales;

        AwqFolding.QueryKeyValue(f, config, Train(f.QueryKeyValue, qkvRows, dim, LinearInput.QueryKeyValue, null));
        AwqFolding.AttentionOutput(f, config, Train(f.AttentionOutput, dim, dim, LinearInput.AttentionOutput, AwqFolding.AttentionOutputSources(config)));
        AwqFolding.GateUp(f, config, Train(f.GateUp, 2 * ffn, dim, LinearInput.GateUp, null));
        AwqFolding.Down(f, config, Train(f.Down, dim, ffn, LinearInput.Down, null));
        return f;
    }

    /// <summary>Round-to-nearest of rows into a matrix whose format names another recipe (which its own row quantizer would refuse).</summary>
    private sealed class RoundToNearestJob(float[] weights, int columns, Int4Matrix target) : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            int group = target.GroupSize;
            bool asymmetric = target.Int4Format.Asymmetric;
            var codes = new byte[group];
            for (int r = begin; r < end; r++)
                for (int g = 0; g < target.Groups; g++)
                {
                    var (g0, length) = SignRoundQuantizer.Range(g, group, columns);
                    var (scale, zero) = Int4Quantizer.Quantize(weights.AsSpan(r * columns + g0, length), codes, asymmetric, Int4Recipe.RoundToNearest);
                    codes.AsSpan(length).Fill(zero);
                    target.SetGroup(r, g, (Half)scale, codes, asymmetric ? zero : (byte)8);
                }
        }
    }
}
