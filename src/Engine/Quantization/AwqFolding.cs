using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// AWQ's equivalent transformation: a matrix's input channel j multiplied by s[j] while whatever produces that channel
/// divides it by s[j], so the layer computes the same function (up to rounding) while the channels that matter most
/// get more of the INT4 grid. Where the scale goes back to:
/// <list type="bullet">
/// <item>Q, K, V (stacked) and gate, up (stacked): the RMSNorm weight before them, which they share;</item>
/// <item>the attention output projection: the V rows, since attention output channel j of head h is a weighted sum of
/// channel j of h's KV head's values (so the query heads that share a KV head share its scales);</item>
/// <item>the down projection: the up rows, since SwiGLU's output is silu(gate) * up, linear in up.</item>
/// </list>
/// </summary>
internal static class AwqFolding
{
    /// <summary>For each attention-output input channel, the V row (within the V block) it comes from.</summary>
    public static int[] AttentionOutputSources(ModelConfig config)
    {
        int headDim = config.HeadDim, perKv = config.HeadCount / config.KvHeadCount;
        var source = new int[config.EmbeddingLength];
        for (int j = 0; j < source.Length; j++) source[j] = j / headDim / perKv * headDim + j % headDim;
        return source;
    }

    /// <summary>Scales the Q/K/V input channels by <paramref name="s"/> (dim) and divides the attention norm by it.</summary>
    public static void QueryKeyValue(FloatLayer layer, ModelConfig config, ReadOnlySpan<float> s)
    {
        ScaleColumns(layer.QueryKeyValue, config.EmbeddingLength, s);
        for (int j = 0; j < s.Length; j++) layer.AttentionNorm[j] /= s[j];
    }

    /// <summary>
    /// Scales the attention output's input channels by <paramref name="s"/> (dim; equal within the channels one V row
    /// feeds, see <see cref="AttentionOutputSources"/>) and divides those V rows by it.
    /// </summary>
    public static void AttentionOutput(FloatLayer layer, ModelConfig config, ReadOnlySpan<float> s)
    {
        int dim = config.EmbeddingLength, kvDim = config.KvDim;
        var sources = AttentionOutputSources(config);
        var perRow = new float[kvDim];
        for (int j = 0; j < dim; j++)
        {
            if (perRow[sources[j]] != 0 && perRow[sources[j]] != s[j])
                throw new ArgumentException("Channels fed by the same V row need the same scale.", nameof(s));
            perRow[sources[j]] = s[j];
        }
        ScaleColumns(layer.AttentionOutput, dim, s);
        for (int v = 0; v < kvDim; v++) DivideRow(layer.QueryKeyValue, dim, dim + kvDim + v, perRow[v]);
    }

    /// <summary>Scales the gate/up input channels by <paramref name="s"/> (dim) and divides the feed-forward norm by it.</summary>
    public static void GateUp(FloatLayer layer, ModelConfig config, ReadOnlySpan<float> s)
    {
        ScaleColumns(layer.GateUp, config.EmbeddingLength, s);
        for (int j = 0; j < s.Length; j++) layer.FeedForwardNorm[j] /= s[j];
    }

    /// <summary>Scales the down projection's input channels by <paramref name="s"/> (ffn) and divides the up rows by it.</summary>
    public static void Down(FloatLayer layer, ModelConfig config, ReadOnlySpan<float> s)
    {
        int dim = config.EmbeddingLength, ffn = config.FeedForwardLength;
        ScaleColumns(layer.Down, ffn, s);
        for (int i = 0; i < ffn; i++) DivideRow(layer.GateUp, dim, ffn + i, s[i]);
    }

    private static void ScaleColumns(float[] matrix, int columns, ReadOnlySpan<float> s)
    {
        for (int r = 0; r < matrix.Length / columns; r++)
        {
            var row = matrix.AsSpan(r * columns, columns);
            for (int j = 0; j < columns; j++) row[j] *= s[j];
        }
    }

    private static void DivideRow(float[] matrix, int columns, int row, float s)
    {
        foreach (ref float v in matrix.AsSpan(row * columns, columns)) v /= s;
    }
}
