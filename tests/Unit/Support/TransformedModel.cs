using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Support;

/// <summary>
/// A copy of a model whose layer matrices are rows passed through a function (for example, through a ggml quantizer
/// and back), so the engine can compute with exactly the weights a quantized file holds: as FP32, or as INT4 when the
/// rows already lie on that format's grid (Q4_0 values do on INT4 g32 symmetric's). The token embedding and output
/// projection are copied unchanged (as FP32, which holds FP16 values exactly).
/// </summary>
public static class TransformedModel
{
    public delegate float[] RowTransform(float[] row);

    /// <param name="poison">A layer whose feed-forward down projection gets one weight set to this value (NaN, say).</param>
    public static LanguageModel Create(LanguageModel source, RowTransform layerRows, Int4Format? int4 = null, (int Layer, float Value)? poison = null)
    {
        var weights = source.Weights;
        WeightMatrix Layer(WeightMatrix matrix) => int4 is { } format ? CopyInt4(matrix, layerRows, format) : Copy(matrix, layerRows);
        var layers = weights.Layers.Select(l => new LayerWeights
        {
            AttentionNorm = (float[])l.AttentionNorm.Clone(), AttentionNormBias = l.AttentionNormBias,
            QueryKeyValue = Layer(l.QueryKeyValue), QueryKeyValueBias = l.QueryKeyValueBias,
            AttentionOutput = Layer(l.AttentionOutput), AttentionOutputBias = l.AttentionOutputBias,
            FeedForwardNorm = (float[]?)l.FeedForwardNorm?.Clone(), FeedForwardNormBias = l.FeedForwardNormBias,
            GateUp = Layer(l.GateUp), GateUpBias = l.GateUpBias,
            Down = Layer(l.Down), DownBias = l.DownBias,
        }).ToArray();
        if (poison is { } p) ((Float32Matrix)layers[p.Layer].Down).RowSpan(3)[5] = p.Value;
        var embedding = Copy(weights.TokenEmbedding, row => row);
        var output = ReferenceEquals(weights.Output, weights.TokenEmbedding) ? embedding : Copy(weights.Output, row => row);
        var copy = new ModelWeights(embedding, layers, (float[])weights.OutputNorm.Clone(), output, weights.OutputNormBias, weights.OutputBias);
        return new LanguageModel(source.Name, source.Path, source.Config, copy, source.Tokenizer, source.StoredPrecision, "F32",
            source.FileSizeBytes, TimeSpan.Zero, storage: null);
    }

    private static Int4Matrix CopyInt4(WeightMatrix matrix, RowTransform transform, Int4Format format)
    {
        var copy = new Int4Matrix(matrix.Rows, matrix.Columns, format);
        var row = new float[matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.DequantizeRow(r, row);
            copy.QuantizeRow(r, transform(row));
        }
        return copy;
    }

    private static Float32Matrix Copy(WeightMatrix matrix, RowTransform transform)
    {
        var copy = new Float32Matrix(matrix.Rows, matrix.Columns);
        var row = new float[matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.DequantizeRow(r, row);
            transform(row).CopyTo(copy.RowSpan(r));
        }
        return copy;
    }
}
