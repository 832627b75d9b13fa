using System.Numerics.Tensors;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Ops;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// One Llama-layout decoder block in FP32 with a backward pass, for the recipes that train against the whole block's
/// output error (<see cref="SignRoundBlockTraining"/>, <see cref="TeqBlockTraining"/>): RMSNorm, Q/K/V with their
/// biases, rotary embedding as the engine applies it (<see cref="RotaryEmbedding"/>), causal grouped-query softmax
/// attention (a sliding window where the model has one), the output projection, the second RMSNorm, SwiGLU and the
/// down projection, each joined to the residual. A window runs from position 0, as the calibration windows do.
/// <para><see cref="Loss"/> runs a window forward, keeping what the backward needs, and, when asked, adds the gradient
/// of Σ (output - target)² · <c>weight</c> with respect to each of the four matrices, as the engine stores them
/// (<see cref="LayerWeights"/>: Q/K/V stacked, gate/up stacked), to <see cref="Gradients"/>. The block's input is
/// given, so nothing flows back past the first norm. The matrix products go through <see cref="RowProducts"/>, the
/// attention a key/value head per work item.</para>
/// </summary>
internal sealed class DecoderBlockGradient
{
    /// <summary>Why this block cannot be the model's, or null when it can.</summary>
    public static string? CannotRun(ModelConfig c) =>
        c.Norm != NormKind.Rms ? "its norms are LayerNorms"
        : c.NormBias ? "its norms have biases"
        : c.Residual != ResidualLayout.Sequential ? "its attention and feed-forward network run in parallel"
        : !c.FeedForwardGated || c.Activation != FeedForwardActivation.Silu ? "its feed-forward network is not SwiGLU"
        : null;

    private readonly ModelConfig _c;
    private readonly int _dim, _kvDim, _ffn, _qkvRows, _maxTokens;
    private readonly float[] _norm1, _norm2;
    private readonly float[]? _qkvBias, _outBias, _gateUpBias, _downBias;
    private readonly RotaryEmbedding _rope;
    private readonly RowProducts _products;
    private readonly WorkerPool _pool;
    private readonly AttentionHeads _attention;

    // The weights of the current point, and the transposes the backward multiplies by.
    private float[] _wQkv = [], _wOut = [], _wGateUp = [], _wDown = [];
    private readonly float[] _wOutT, _wGateUpT, _wDownT;

    // What a window's forward keeps (tokens x width, row-major).
    private readonly float[] _a, _qkv, _probabilities, _o, _y, _inverse2, _b, _gateUp, _hidden, _out;
    // The backward's scratch.
    private readonly float[] _dOut, _dHidden, _dGateUp, _dB, _dY, _dO, _dQkv, _transposeA, _transposeB;

    public DecoderBlockGradient(ModelConfig config, LayerWeights layer, int maxTokens, WorkerPool pool)
    {
        if (CannotRun(config) is { } why) throw new ArgumentException($"The block-wise loss is written for Llama-layout blocks ({config.Architecture}: {why}).", nameof(config));
        _c = config;
        _pool = pool;
        _dim = config.EmbeddingLength;
        _kvDim = config.KvDim;
        _ffn = config.FeedForwardLength;
        _qkvRows = _dim + 2 * _kvDim;
        _maxTokens = maxTokens;
        _norm1 = layer.AttentionNorm;
        _norm2 = layer.FeedForwardNorm ?? throw new ArgumentException("A sequential block has a feed-forward norm.", nameof(layer));
        (_qkvBias, _outBias, _gateUpBias, _downBias) = (layer.QueryKeyValueBias, layer.AttentionOutputBias, layer.GateUpBias, layer.DownBias);
        _rope = new RotaryEmbedding(config.HeadDim, maxTokens, config.RopeScaling.InverseFrequencies(config.RotaryDimensions, config.RopeTheta),
            interleaved: config.RotaryPairing == RotaryPairing.Interleaved);
        _products = new RowProducts(pool);
        _attention = new AttentionHeads(this);
        int n = maxTokens, d = _dim, f = _ffn;
        _wOutT = new float[d * d];
        _wGateUpT = new float[2 * f * d];
        _wDownT = new float[f * d];
        _a = new float[n * d];
        _qkv = new float[n * _qkvRows];
        _probabilities = new float[config.HeadCount * n * n];
        _o = new float[n * d];
        _y = new float[n * d];
        _inverse2 = new float[n];
        _b = new float[n * d];
        _gateUp = new float[n * 2 * f];
        _hidden = new float[n * f];
        _out = new float[n * d];
        _dOut = new float[n * d];
        _dHidden = new float[n * f];
        _dGateUp = new float[n * 2 * f];
        _dB = new float[n * d];
        _dY = new float[n * d];
        _dO = new float[n * d];
        _dQkv = new float[n * _qkvRows];
        _transposeA = new float[n * Math.Max(2 * f, _qkvRows)];
        _transposeB = new float[n * Math.Max(f, d)];
        Gradients = [new float[_qkvRows * d], new float[d * d], new float[2 * f * d], new float[d * f]];
    }

    /// <summary>
    /// The loss's gradient with respect to each matrix, indexed by <see cref="LinearInput"/> (Q/K/V, attention output,
    /// gate/up, down), summed over the <see cref="Loss"/> calls since <see cref="ClearGradients"/>.
    /// </summary>
    public float[][] Gradients { get; }

    public void ClearGradients()
    {
        foreach (var g in Gradients) Array.Clear(g);
    }

    /// <summary>The block's matrices from now on, row-major as <see cref="LayerWeights"/> stores them (kept, not copied).</summary>
    public void SetWeights(float[] queryKeyValue, float[] attentionOutput, float[] gateUp, float[] down)
    {
        (_wQkv, _wOut, _wGateUp, _wDown) = (queryKeyValue, attentionOutput, gateUp, down);
        RowProducts.Transpose(attentionOutput, _dim, _dim, _wOutT);
        RowProducts.Transpose(gateUp, 2 * _ffn, _dim, _wGateUpT);
        RowProducts.Transpose(down, _dim, _ffn, _wDownT);
    }

    /// <summary>The block's output on <paramref name="input"/> ((tokens, dim), positions from 0) with the current weights.</summary>
    public void Forward(ReadOnlySpan<float> input, int tokens, Span<float> output)
    {
        RunForward(input, tokens);
        _out.AsSpan(0, tokens * _dim).CopyTo(output);
    }

    /// <summary>
    /// Σ (output - target)² over the window, and where <paramref name="backward"/>, that sum times
    /// <paramref name="weight"/> differentiated with respect to the four matrices, added to <see cref="Gradients"/>.
    /// </summary>
    public double Loss(ReadOnlySpan<float> input, int tokens, ReadOnlySpan<float> target, double weight, bool backward)
    {
        RunForward(input, tokens);
        int n = tokens, d = _dim, f = _ffn;
        double sum = 0;
        for (int i = 0; i < n * d; i++)
        {
            double e = _out[i] - target[i];
            sum += e * e;
            _dOut[i] = (float)(2 * e * weight);
        }
        if (!backward) return sum;

        // Down: dW += dOutᵀ hidden; dHidden = dOut W.
        RowProducts.Transpose(_dOut.AsSpan(0, n * d), n, d, _transposeA);
        RowProducts.Transpose(_hidden.AsSpan(0, n * f), n, f, _transposeB);
        _products.Multiply(_transposeA, 0, _transposeB, 0, Gradients[(int)LinearInput.Down], 0, d, f, n, accumulate: true);
        _products.Multiply(_dOut, 0, _wDownT, 0, _dHidden, 0, n, f, d, accumulate: false);

        // SwiGLU: hidden = silu(gate) · up.
        for (int t = 0; t < n; t++)
        {
            var gu = _gateUp.AsSpan(t * 2 * f, 2 * f);
            var dgu = _dGateUp.AsSpan(t * 2 * f, 2 * f);
            var dh = _dHidden.AsSpan(t * f, f);
            for (int i = 0; i < f; i++)
            {
                float g = gu[i], u = gu[f + i], sigmoid = 1f / (1f + MathF.Exp(-g));
                dgu[f + i] = dh[i] * g * sigmoid;
                dgu[i] = dh[i] * u * sigmoid * (1f + g * (1f - sigmoid));
            }
        }
        RowProducts.Transpose(_dGateUp.AsSpan(0, n * 2 * f), n, 2 * f, _transposeA);
        RowProducts.Transpose(_b.AsSpan(0, n * d), n, d, _transposeB);
        _products.Multiply(_transposeA, 0, _transposeB, 0, Gradients[(int)LinearInput.GateUp], 0, 2 * f, d, n, accumulate: true);
        _products.Multiply(_dGateUp, 0, _wGateUpT, 0, _dB, 0, n, d, 2 * f, accumulate: false);

        // The feed-forward norm b = y · r · g with r = (mean y² + eps)^-1/2, and the residual: dY = dOut + d(norm).
        for (int t = 0; t < n; t++)
        {
            var y = _y.AsSpan(t * d, d);
            var db = _dB.AsSpan(t * d, d);
            var dy = _dY.AsSpan(t * d, d);
            float r = _inverse2[t];
            double dot = 0;
            for (int i = 0; i < d; i++) dot += db[i] * _norm2[i] * y[i];
            float c = (float)(dot * r * r * r / d);
            for (int i = 0; i < d; i++) dy[i] = _dOut[t * d + i] + r * _norm2[i] * db[i] - c * y[i];
        }

        // Attention output: dW += dYᵀ o; dO = dY W.
        RowProducts.Transpose(_dY.AsSpan(0, n * d), n, d, _transposeA);
        RowProducts.Transpose(_o.AsSpan(0, n * d), n, d, _transposeB);
        _products.Multiply(_transposeA, 0, _transposeB, 0, Gradients[(int)LinearInput.AttentionOutput], 0, d, d, n, accumulate: true);
        _products.Multiply(_dY, 0, _wOutT, 0, _dO, 0, n, d, d, accumulate: false);

        // Attention, then the rotation undone on the query and key gradients (its transpose is its inverse).
        Array.Clear(_dQkv, 0, n * _qkvRows);
        _attention.Run(n, backward: true);
        for (int t = 0; t < n; t++) _rope.ApplyInverse(_dQkv.AsSpan(t * _qkvRows, _dim + _kvDim), t);
        RowProducts.Transpose(_dQkv.AsSpan(0, n * _qkvRows), n, _qkvRows, _transposeA);
        RowProducts.Transpose(_a.AsSpan(0, n * d), n, d, _transposeB);
        _products.Multiply(_transposeA, 0, _transposeB, 0, Gradients[(int)LinearInput.QueryKeyValue], 0, _qkvRows, d, n, accumulate: true);
        return sum;
    }

    private void RunForward(ReadOnlySpan<float> input, int n)
    {
        if (n <= 0 || n > _maxTokens) throw new ArgumentOutOfRangeException(nameof(n), n, $"A window holds 1 to {_maxTokens} tokens.");
        int d = _dim, f = _ffn;
        for (int t = 0; t < n; t++) Normalization.RmsNorm(input.Slice(t * d, d), _norm1, _a.AsSpan(t * d, d), _c.NormEpsilon);
        _products.Multiply(_a, 0, _wQkv, 0, _qkv, 0, n, _qkvRows, d, accumulate: false);
        for (int t = 0; t < n; t++)
        {
            var row = _qkv.AsSpan(t * _qkvRows, _qkvRows);
            if (_qkvBias is not null) TensorPrimitives.Add(row, _qkvBias, row);
            _rope.Apply(row.Slice(0, d), t);
            _rope.Apply(row.Slice(d, _kvDim), t);
        }
        _attention.Run(n, backward: false);
        _products.Multiply(_o, 0, _wOut, 0, _y, 0, n, d, d, accumulate: false);
        for (int t = 0; t < n; t++)
        {
            var y = _y.AsSpan(t * d, d);
            if (_outBias is not null) TensorPrimitives.Add(y, _outBias, y);
            TensorPrimitives.Add(y, input.Slice(t * d, d), y);
            _inverse2[t] = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(y) / d + _c.NormEpsilon);
            Normalization.RmsNorm(y, _norm2, _b.AsSpan(t * d, d), _c.NormEpsilon);
        }
        _products.Multiply(_b, 0, _wGateUp, 0, _gateUp, 0, n, 2 * f, d, accumulate: false);
        for (int t = 0; t < n; t++)
        {
            var gu = _gateUp.AsSpan(t * 2 * f, 2 * f);
            if (_gateUpBias is not null) TensorPrimitives.Add(gu, _gateUpBias, gu);
            var h = _hidden.AsSpan(t * f, f);
            Activations.Silu(gu.Slice(0, f), h);
            TensorPrimitives.Multiply(h, gu.Slice(f, f), h);
        }
        _products.Multiply(_hidden, 0, _wDown, 0, _out, 0, n, d, f, accumulate: false);
        for (int t = 0; t < n; t++)
        {
            var o = _out.AsSpan(t * d, d);
            if (_downBias is not null) TensorPrimitives.Add(o, _downBias, o);
            TensorPrimitives.Add(o, _y.AsSpan(t * d, d), o);
        }
    }

    /// <summary>
    /// Causal softmax attention forward (probabilities kept) or backward, a key/value head per item: the query heads
    /// that share it add into its keys' and values' gradients, so no two items write the same place.
    /// </summary>
    private sealed class AttentionHeads(DecoderBlockGradient block) : IRangeJob
    {
        private int _tokens;
        private bool _backward;

        public void Run(int tokens, bool backward)
        {
            (_tokens, _backward) = (tokens, backward);
            block._pool.Run(this, block._c.KvHeadCount);
        }

        public void Execute(int begin, int end)
        {
            var c = block._c;
            int hd = c.HeadDim, group = c.HeadCount / c.KvHeadCount, n = _tokens, stride = block._qkvRows, dim = block._dim, kvDim = block._kvDim;
            float scale = 1f / MathF.Sqrt(hd);
            var dp = new float[n];
            var qkv = block._qkv;
            for (int kv = begin; kv < end; kv++)
                for (int h = kv * group; h < (kv + 1) * group; h++)
                {
                    int qAt = h * hd, kAt = dim + kv * hd, vAt = dim + kvDim + kv * hd;
                    for (int t = 0; t < n; t++)
                    {
                        int first = c.SlidingWindow is { } window ? Math.Max(0, t - window + 1) : 0;
                        var p = block._probabilities.AsSpan((h * n + t) * n + first, t + 1 - first);
                        var q = qkv.AsSpan(t * stride + qAt, hd);
                        if (!_backward)
                        {
                            for (int s = first; s <= t; s++) p[s - first] = TensorPrimitives.Dot(q, qkv.AsSpan(s * stride + kAt, hd)) * scale;
                            float max = TensorPrimitives.Max(p);
                            TensorPrimitives.Subtract(p, max, p);
                            TensorPrimitives.Exp(p, p);
                            TensorPrimitives.Divide(p, TensorPrimitives.Sum(p), p);
                            var o = block._o.AsSpan(t * dim + qAt, hd);
                            o.Clear();
                            for (int s = first; s <= t; s++) TensorPrimitives.MultiplyAdd(qkv.AsSpan(s * stride + vAt, hd), p[s - first], o, o);
                            continue;
                        }
                        // dP[s] = dO_t · v_s; dV_s += P[s] dO_t; dS = P (dP - Σ P dP); dQ_t = scale Σ dS[s] k_s; dK_s += scale dS[s] q_t.
                        var dO = block._dO.AsSpan(t * dim + qAt, hd);
                        var dScores = dp.AsSpan(0, p.Length);
                        for (int s = first; s <= t; s++)
                        {
                            dScores[s - first] = TensorPrimitives.Dot(dO, qkv.AsSpan(s * stride + vAt, hd));
                            var dv = block._dQkv.AsSpan(s * stride + vAt, hd);
                            TensorPrimitives.MultiplyAdd(dO, p[s - first], dv, dv);
                        }
                        float mean = TensorPrimitives.Dot(p, dScores);
                        TensorPrimitives.Subtract(dScores, mean, dScores);
                        TensorPrimitives.Multiply(dScores, p, dScores);
                        TensorPrimitives.Multiply(dScores, scale, dScores);
                        var dq = block._dQkv.AsSpan(t * stride + qAt, hd);
                        for (int s = first; s <= t; s++)
                        {
                            float ds = dScores[s - first];
                            TensorPrimitives.MultiplyAdd(qkv.AsSpan(s * stride + kAt, hd), ds, dq, dq);
                            var dk = block._dQkv.AsSpan(s * stride + kAt, hd);
                            TensorPrimitives.MultiplyAdd(q, ds, dk, dk);
                        }
                    }
                }
        }
    }
}
