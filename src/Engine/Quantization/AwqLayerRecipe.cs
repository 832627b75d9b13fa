using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// AWQ on a decoder layer: scales searched for each matrix's input channels in the order the reference goes (Q/K/V,
/// attention output, gate/up, down), each folded into what precedes it (<see cref="AwqFolding"/>), then a clipping
/// search and round-to-nearest quantization of the rescaled matrices. The layer's norms are new arrays.
/// </summary>
internal sealed class AwqLayerRecipe(LayerFormat format, ActivationMode activations, WorkerPool pool, ModelConfig config) : ILayerRecipe
{
    /// <summary>
    /// Why AWQ cannot fold its scales into this architecture's layers, or null when it can: the folding divides RMS norm
    /// weights, V rows and up rows, so it needs Llama's layout (RMS norms, a sequential residual, a gated feed-forward
    /// network) without biases the divided rows would also have to carry.
    /// </summary>
    public static string? CannotFold(ModelConfig config) =>
        config.Norm != NormKind.Rms ? "its norms are LayerNorms"
        : config.Residual != ResidualLayout.Sequential ? "its attention and feed-forward network run in parallel"
        : !config.FeedForwardGated ? "its feed-forward network is not gated"
        : config.AttentionBias || config.FeedForwardBias ? "its projections have biases"
        : null;

    public LayerWeights Quantize(int index, LayerWeights layer, LayerStatistics statistics)
    {
        int dim = config.EmbeddingLength, kvDim = config.KvDim, ffn = config.FeedForwardLength, qkvRows = dim + 2 * kvDim;
        var f = FloatLayer.Of(layer);
        float[] hQkv = QuadraticError.ToFloat(statistics[LinearInput.QueryKeyValue].Hessian());
        float[] hOut = QuadraticError.ToFloat(statistics[LinearInput.AttentionOutput].Hessian());
        float[] hGateUp = QuadraticError.ToFloat(statistics[LinearInput.GateUp].Hessian());
        float[] hDown = QuadraticError.ToFloat(statistics[LinearInput.Down].Hessian());

        var (sQkv, _) = AwqScaleSearch.Search(f.QueryKeyValue, qkvRows, dim, hQkv, statistics[LinearInput.QueryKeyValue].MeanAbsolute(), null, format[LinearInput.QueryKeyValue], pool);
        AwqFolding.QueryKeyValue(f, config, sQkv);
        var (sOut, _) = AwqScaleSearch.Search(f.AttentionOutput, dim, dim, hOut, statistics[LinearInput.AttentionOutput].MeanAbsolute(),
            AwqFolding.AttentionOutputSources(config), format[LinearInput.AttentionOutput], pool);
        AwqFolding.AttentionOutput(f, config, sOut);
        var (sGateUp, _) = AwqScaleSearch.Search(f.GateUp, 2 * ffn, dim, hGateUp, statistics[LinearInput.GateUp].MeanAbsolute(), null, format[LinearInput.GateUp], pool);
        AwqFolding.GateUp(f, config, sGateUp);
        var (sDown, _) = AwqScaleSearch.Search(f.Down, dim, ffn, hDown, statistics[LinearInput.Down].MeanAbsolute(), null, format[LinearInput.Down], pool);
        AwqFolding.Down(f, config, sDown);

        return LayerRecipe.DisposingOnFailure(keep =>
        {
            WeightMatrix Matrix(float[] weights, int rows, int columns, float[] h, float[] s, int clipFrom, LinearInput kind) =>
                keep(AwqClipQuantizer.Quantize(weights, rows, columns, Rescaled(h, s), clipFrom, format[kind], activations, pool));
            return layer.With(Matrix(f.QueryKeyValue, qkvRows, dim, hQkv, sQkv, dim + kvDim, LinearInput.QueryKeyValue),
                Matrix(f.AttentionOutput, dim, dim, hOut, sOut, 0, LinearInput.AttentionOutput), Matrix(f.GateUp, 2 * ffn, dim, hGateUp, sGateUp, 0, LinearInput.GateUp),
                Matrix(f.Down, dim, ffn, hDown, sDown, 0, LinearInput.Down), f.AttentionNorm, f.FeedForwardNorm);
        });
    }

    /// <summary>The Hessian of inputs divided by s channel by channel: diag(1/s) H diag(1/s).</summary>
    private static float[] Rescaled(float[] h, float[] s)
    {
        int n = s.Length;
        var result = new float[h.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) result[i * n + j] = h[i * n + j] / (s[i] * s[j]);
        return result;
    }
}
