using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// The forward pass written as plainly as it can be: FP32 loops, one token and one head at a time, no threads, no
/// vectors, no cache (every call recomputes the whole sequence), every weight read back as FP32 rows. It reads the same
/// <see cref="ModelConfig"/> as <see cref="InferenceSession"/> and shares no code with it but the weights, so the tests
/// hold the fast path to it for every architecture and precision. Far too slow for anything but small models.
/// </summary>
public static class ReferenceForward
{
    /// <summary>The logits (vocab) after the last of <paramref name="tokens"/>, positions counted from 0.</summary>
    public static float[] Logits(LanguageModel model, IReadOnlyList<int> tokens) => model.Use(weights => Logits(model.Config, weights, tokens));

    private static float[] Logits(ModelConfig c, ModelWeights w, IReadOnlyList<int> tokens)
    {
        int n = tokens.Count;
        var x = new float[n][]; // (n, dim) residual stream
        for (int t = 0; t < n; t++)
        {
            x[t] = new float[c.EmbeddingLength];
            w.TokenEmbedding.DequantizeRow(tokens[t], x[t]);
        }
        foreach (var layer in w.Layers) x = Layer(c, layer, x);
        var h = Norm(c, x[n - 1], w.OutputNorm, w.OutputNormBias);
        return MatVec(w.Output, h, w.OutputBias);
    }

    /// <summary>One decoder layer over the whole sequence: attention and MLP joined to the residual as the description says.</summary>
    private static float[][] Layer(ModelConfig c, LayerWeights layer, float[][] x)
    {
        int n = x.Length, dim = c.EmbeddingLength, kvDim = c.KvDim;
        var attentionInput = x.Select(row => Norm(c, row, layer.AttentionNorm, layer.AttentionNormBias)).ToArray();
        var q = new float[n][];
        var k = new float[n][];
        var v = new float[n][];
        for (int t = 0; t < n; t++)
        {
            var qkv = MatVec(layer.QueryKeyValue, attentionInput[t], layer.QueryKeyValueBias);
            q[t] = Rotate(c, qkv[..dim], t);
            k[t] = Rotate(c, qkv[dim..(dim + kvDim)], t);
            v[t] = qkv[(dim + kvDim)..];
        }
        var result = new float[n][];
        for (int t = 0; t < n; t++)
        {
            var attention = MatVec(layer.AttentionOutput, Attend(c, q, k, v, t), layer.AttentionOutputBias);
            var y = (float[])x[t].Clone();
            switch (c.Residual)
            {
                case ResidualLayout.Sequential:
                    Add(y, attention);
                    Add(y, FeedForward(c, layer, Norm(c, y, layer.FeedForwardNorm!, layer.FeedForwardNormBias)));
                    break;
                case ResidualLayout.ParallelSharedNorm:
                    Add(y, attention);
                    Add(y, FeedForward(c, layer, attentionInput[t]));
                    break;
                case ResidualLayout.ParallelTwoNorms:
                    Add(y, attention);
                    Add(y, FeedForward(c, layer, Norm(c, x[t], layer.FeedForwardNorm!, layer.FeedForwardNormBias)));
                    break;
            }
            result[t] = y;
        }
        return result;
    }

    /// <summary>Rotary embedding of every head of <paramref name="heads"/> at <paramref name="position"/>.</summary>
    private static float[] Rotate(ModelConfig c, float[] heads, int position)
    {
        int hd = c.HeadDim, rotated = c.RotaryDimensions, pairs = rotated / 2;
        var frequencies = c.RopeScaling.InverseFrequencies(rotated, c.RopeTheta);
        var y = (float[])heads.Clone();
        for (int h = 0; h < heads.Length; h += hd)
        {
            for (int i = 0; i < pairs; i++)
            {
                // Half-split pairs i with i + r/2; interleaved pairs 2i with 2i + 1.
                int a = c.RotaryPairing == RotaryPairing.HalfSplit ? i : 2 * i;
                int b = c.RotaryPairing == RotaryPairing.HalfSplit ? i + pairs : 2 * i + 1;
                float angle = position * frequencies[i];
                float cos = MathF.Cos(angle), sin = MathF.Sin(angle);
                y[h + a] = heads[h + a] * cos - heads[h + b] * sin;
                y[h + b] = heads[h + b] * cos + heads[h + a] * sin;
            }
        }
        return y;
    }

    /// <summary>Causal softmax attention of token t, each query head against its key/value head, within the window.</summary>
    private static float[] Attend(ModelConfig c, float[][] q, float[][] k, float[][] v, int t)
    {
        int hd = c.HeadDim, group = c.HeadCount / c.KvHeadCount;
        int first = c.SlidingWindow is { } window ? Math.Max(0, t - window + 1) : 0;
        var output = new float[c.EmbeddingLength];
        for (int h = 0; h < c.HeadCount; h++)
        {
            int kv = h / group;
            var scores = new float[t + 1 - first];
            for (int s = first; s <= t; s++)
            {
                float dot = 0;
                for (int d = 0; d < hd; d++) dot += q[t][h * hd + d] * k[s][kv * hd + d];
                scores[s - first] = dot / MathF.Sqrt(hd);
            }
            float max = scores.Max(), total = 0;
            for (int s = 0; s < scores.Length; s++) total += scores[s] = MathF.Exp(scores[s] - max);
            for (int s = first; s <= t; s++)
            {
                for (int d = 0; d < hd; d++) output[h * hd + d] += scores[s - first] / total * v[s][kv * hd + d];
            }
        }
        return output;
    }

    /// <summary>down(act(gate(x)) * up(x)) when gated, down(act(up(x))) when not, biases included.</summary>
    private static float[] FeedForward(ModelConfig c, LayerWeights layer, float[] x)
    {
        int f = c.FeedForwardLength;
        var gateUp = MatVec(layer.GateUp, x, layer.GateUpBias);
        var hidden = new float[f];
        for (int i = 0; i < f; i++)
        {
            hidden[i] = Activate(c.Activation, gateUp[i]);
            if (c.FeedForwardGated) hidden[i] *= gateUp[f + i];
        }
        return MatVec(layer.Down, hidden, layer.DownBias);
    }

    private static float Activate(FeedForwardActivation activation, float x) => activation switch
    {
        FeedForwardActivation.Silu => x / (1 + MathF.Exp(-x)),
        FeedForwardActivation.Gelu => (float)(0.5 * x * (1 + Erf(x / Math.Sqrt(2)))),
        _ => 0.5f * x * (1 + MathF.Tanh(MathF.Sqrt(2 / MathF.PI) * (x + 0.044715f * x * x * x))),
    };

    /// <summary>erf by its Taylor series, in double (exact to about 1e-12 where it is summed; erf is 1 to 1.6e-8 beyond 4).</summary>
    private static double Erf(double x)
    {
        if (Math.Abs(x) >= 4) return Math.Sign(x);
        double term = x, sum = x;
        for (int n = 1; n < 100; n++)
        {
            term *= -x * x / n;
            sum += term / (2 * n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static void Add(float[] y, float[] x)
    {
        for (int i = 0; i < y.Length; i++) y[i] += x[i];
    }

    private static float[] Norm(ModelConfig c, float[] x, float[] weight, float[]? bias)
    {
        int d = x.Length;
        var y = new float[d];
        if (c.Norm == NormKind.Rms)
        {
            float sum = 0;
            for (int i = 0; i < d; i++) sum += x[i] * x[i];
            float scale = 1f / MathF.Sqrt(sum / d + c.NormEpsilon);
            for (int i = 0; i < d; i++) y[i] = x[i] * scale * weight[i];
            return y;
        }
        float mean = 0;
        for (int i = 0; i < d; i++) mean += x[i];
        mean /= d;
        float variance = 0;
        for (int i = 0; i < d; i++) variance += (x[i] - mean) * (x[i] - mean);
        float inverse = 1f / MathF.Sqrt(variance / d + c.NormEpsilon);
        for (int i = 0; i < d; i++) y[i] = (x[i] - mean) * inverse * weight[i] + (bias?[i] ?? 0);
        return y;
    }

    /// <summary>y = W x (+ b), W read back one FP32 row at a time.</summary>
    private static float[] MatVec(WeightMatrix w, float[] x, float[]? bias)
    {
        var y = new float[w.Rows];
        var row = new float[w.Columns];
        for (int r = 0; r < w.Rows; r++)
        {
            w.DequantizeRow(r, row);
            float sum = 0;
            for (int k = 0; k < row.Length; k++) sum += row[k] * x[k];
            y[r] = sum + (bias?[r] ?? 0);
        }
        return y;
    }
}
