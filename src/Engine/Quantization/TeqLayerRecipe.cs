using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// TEQ on a decoder layer: scales trained for each matrix's input channels (<see cref="TeqScaleTraining"/>) in AWQ's
/// order (Q/K/V, attention output, gate/up, down), each folded into what precedes it (<see cref="AwqFolding"/>, so the
/// layout limits are AWQ's: <see cref="AwqLayerRecipe.CannotFold"/>), then round-to-nearest quantization of the
/// rescaled matrices, which is what the scales were trained through. The layer's norms are new arrays.
/// </summary>
internal sealed class TeqLayerRecipe(LayerFormat format, ActivationMode activations, WorkerPool pool, ModelConfig config, CancellationToken cancellation,
    SignedDescentOptions? options = null) : ILayerRecipe
{
    private readonly SignedDescentOptions _options = options ?? SignedDescentOptions.Teq;

    public LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics)
    {
        int dim = config.EmbeddingLength, ffn = config.FeedForwardLength, qkvRows = dim + 2 * config.KvDim;
        var f = TrainAndFold(layer, statistics);
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
    internal FloatLayer TrainAndFold(LayerWeights layer, LayerStatistics statistics)
    {
        int dim = config.EmbeddingLength, ffn = config.FeedForwardLength, qkvRows = dim + 2 * config.KvDim;
        var f = FloatLayer.Of(layer);
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
