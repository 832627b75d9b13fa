using LlmCpu.Engine.Models;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// A Llama-layout decoder block written as plainly as it can be, in double, one token and one head at a time, sharing
/// no code with <see cref="LlmCpu.Engine.Quantization.DecoderBlockGradient"/>: the reference its gradients are held to
/// by central finite differences. Rotary angles are taken in float as the engine takes them (they are constants here).
/// </summary>
internal static class NaiveDecoderBlock
{
    /// <summary>Σ (block(input) - target)² over the window, the matrices row-major as <see cref="LayerWeights"/> stores them.</summary>
    public static double SquaredError(ModelConfig c, LayerWeights layer, double[][] w, float[] input, int n, float[] target)
    {
        int dim = c.EmbeddingLength, kvDim = c.KvDim, ffn = c.FeedForwardLength, hd = c.HeadDim, group = c.HeadCount / c.KvHeadCount;
        var frequencies = c.RopeScaling.InverseFrequencies(c.RotaryDimensions, c.RopeTheta);
        var q = new double[n][];
        var k = new double[n][];
        var v = new double[n][];
        for (int t = 0; t < n; t++)
        {
            var a = Norm(input.AsSpan(t * dim, dim).ToArray().Select(x => (double)x).ToArray(), layer.AttentionNorm, c.NormEpsilon);
            var qkv = MatVec(w[0], a, layer.QueryKeyValueBias);
            q[t] = Rotate(c, qkv[..dim], t, frequencies);
            k[t] = Rotate(c, qkv[dim..(dim + kvDim)], t, frequencies);
            v[t] = qkv[(dim + kvDim)..];
        }
        double sum = 0;
        for (int t = 0; t < n; t++)
        {
            var o = new double[dim];
            int first = c.SlidingWindow is { } window ? Math.Max(0, t - window + 1) : 0;
            for (int h = 0; h < c.HeadCount; h++)
            {
                int kv = h / group;
                var scores = new double[t + 1 - first];
                for (int s = first; s <= t; s++)
                {
                    double dot = 0;
                    for (int d = 0; d < hd; d++) dot += q[t][h * hd + d] * k[s][kv * hd + d];
                    scores[s - first] = dot / Math.Sqrt(hd);
                }
                double max = scores.Max(), total = 0;
                for (int s = 0; s < scores.Length; s++) total += scores[s] = Math.Exp(scores[s] - max);
                for (int s = first; s <= t; s++)
                    for (int d = 0; d < hd; d++) o[h * hd + d] += scores[s - first] / total * v[s][kv * hd + d];
            }
            var y = MatVec(w[1], o, layer.AttentionOutputBias);
            for (int i = 0; i < dim; i++) y[i] += input[t * dim + i];
            var b = Norm(y, layer.FeedForwardNorm!, c.NormEpsilon);
            var gu = MatVec(w[2], b, layer.GateUpBias);
            var hidden = new double[ffn];
            for (int i = 0; i < ffn; i++) hidden[i] = gu[i] / (1 + Math.Exp(-gu[i])) * gu[ffn + i];
            var down = MatVec(w[3], hidden, layer.DownBias);
            for (int i = 0; i < dim; i++)
            {
                double e = y[i] + down[i] - target[t * dim + i];
                sum += e * e;
            }
        }
        return sum;
    }

    private static double[] Norm(double[] x, float[] weight, float eps)
    {
        double meanSquare = x.Sum(v => v * v) / x.Length;
        double scale = 1 / Math.Sqrt(meanSquare + eps);
        return x.Select((v, i) => v * scale * weight[i]).ToArray();
    }

    private static double[] Rotate(ModelConfig c, double[] heads, int position, float[] frequencies)
    {
        int hd = c.HeadDim, pairs = frequencies.Length;
        var y = (double[])heads.Clone();
        for (int h = 0; h < heads.Length; h += hd)
            for (int i = 0; i < pairs; i++)
            {
                int a = c.RotaryPairing == RotaryPairing.HalfSplit ? i : 2 * i;
                int b = c.RotaryPairing == RotaryPairing.HalfSplit ? i + pairs : 2 * i + 1;
                float angle = position * frequencies[i];
                double cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                y[h + a] = heads[h + a] * cos - heads[h + b] * sin;
                y[h + b] = heads[h + b] * cos + heads[h + a] * sin;
            }
        return y;
    }

    private static double[] MatVec(double[] w, double[] x, float[]? bias)
    {
        int rows = w.Length / x.Length;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = bias?[r] ?? 0;
            for (int j = 0; j < x.Length; j++) sum += w[r * x.Length + j] * x[j];
            y[r] = sum;
        }
        return y;
    }
}
