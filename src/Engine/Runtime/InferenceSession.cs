using System.Diagnostics;
using System.Numerics.Tensors;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;
using LlmCpu.Kernels.Ops;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// One conversation with a model: its KV cache, its position, and every buffer the forward pass needs,
/// all allocated when the session is created. <see cref="Prefill"/> runs the prompt in chunks of up to
/// <see cref="MaxChunk"/> tokens (each weight matrix read once per chunk); <see cref="Decode"/> runs one token.
/// Neither allocates. Not thread-safe: one session per thread of generation.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    public const int MaxChunk = 64;

    private readonly LanguageModel _model;
    private readonly ModelWeights _weights;
    private readonly ModelConfig _c;
    private readonly KvCachePool _cachePool;
    private readonly KvCache _cache;
    private readonly MatMulRunner _matmul;
    private readonly AttentionJob _attention;
    private readonly RotaryEmbedding _rope;
    private readonly TokenRowsJob _rows;
    private int _layer; // the layer the forward pass is in, for the element-wise stages
    private readonly NativeBuffer _buffers;
    private readonly int _qkvStride;
    private bool _disposed;

    // Views into _buffers; shapes in comments.
    private readonly float* _x;       // (chunk, dim) residual stream
    private readonly float* _xb;      // (chunk, dim) normalized input of a sub-layer, then its output
    private readonly float* _qkv;     // (chunk, dim + 2*kvDim) queries, keys, values
    private readonly float* _attn;    // (chunk, dim) attention output before the output projection
    private readonly float* _gateUp;  // (chunk, 2*ffn) gate then up projections
    private readonly float* _hidden;  // (chunk, ffn) SwiGLU output
    private readonly float* _logits;  // (vocab) logits of the last token

    /// <summary>Positions of cache are allocated in multiples of this, so caches of requests of similar length pool together.</summary>
    public const int CapacityGrain = 256;

    /// <param name="contextLength">
    /// Positions the session needs (prompt plus answer); the cache holds at least that many, rounded up to
    /// <see cref="CapacityGrain"/> and capped at the model's context. Null asks for the model's whole context.
    /// </param>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public InferenceSession(LanguageModel model, WorkerPool pool, int? contextLength = null, KvCachePool? cachePool = null)
    {
        _model = model;
        _c = model.Config;
        int capacity = contextLength is > 0
            ? (int)Math.Min((contextLength.Value + (long)CapacityGrain - 1) / CapacityGrain * CapacityGrain, _c.ContextLength)
            : _c.ContextLength;
        // The weights stay allocated while a session uses them, even if the model is disposed meanwhile.
        model.AddSessionReference();
        _weights = model.Weights;
        _cachePool = cachePool ?? KvCachePool.Shared;
        _cache = _cachePool.Rent(_c.LayerCount, capacity, _c.KvDim);
        _matmul = new MatMulRunner(pool);
        _attention = new AttentionJob(_c.HeadCount, _c.KvHeadCount, _c.HeadDim, capacity);
        _rope = new RotaryEmbedding(_c.HeadDim, capacity, _c.RopeTheta);
        _rows = new TokenRowsJob(RunRows);
        _qkvStride = _c.EmbeddingLength + 2 * _c.KvDim;

        long dim = _c.EmbeddingLength, ffn = _c.FeedForwardLength;
        long[] sizes = [MaxChunk * dim, MaxChunk * dim, MaxChunk * _qkvStride, MaxChunk * dim, MaxChunk * 2 * ffn, MaxChunk * ffn, _c.VocabularySize];
        // Each view starts on a 64-byte boundary.
        long total = sizes.Sum(s => (s + 15) / 16 * 16);
        _buffers = NativeBuffer.ForFloats(total);
        float* p = _buffers.Floats;
        float* Next(long size) { float* view = p; p += (size + 15) / 16 * 16; return view; }
        _x = Next(sizes[0]);
        _xb = Next(sizes[1]);
        _qkv = Next(sizes[2]);
        _attn = Next(sizes[3]);
        _gateUp = Next(sizes[4]);
        _hidden = Next(sizes[5]);
        _logits = Next(sizes[6]);
    }

    public LanguageModel Model => _model;

    /// <summary>Tokens held in the cache so far.</summary>
    public int Position { get; private set; }

    /// <summary>Positions the cache holds.</summary>
    public int Capacity => _cache.Capacity;

    public long CacheBytes => _cache.ByteSize;

    /// <summary>Logits of the last token run, (vocab). Valid until the next call.</summary>
    public ReadOnlySpan<float> Logits => new(_logits, _c.VocabularySize);

    /// <summary>Stage timings of every forward pass while set (for profiling); null, the default, costs nothing.</summary>
    public ForwardTimings? Timings { get; set; }

    /// <summary>
    /// Sees the input of every layer matrix while set (calibration for quantization); null, the default, costs one
    /// test per matrix.
    /// </summary>
    public ILinearInputObserver? LinearInputs { get; set; }

    /// <summary>Forgets the conversation; the cache is reused from position 0.</summary>
    public void Reset() => Position = 0;

    /// <summary>Runs <paramref name="tokens"/> through the model from the current position and returns the last token's logits.</summary>
    /// <exception cref="OperationCanceledException">
    /// Cancelled between two layers; the tokens of the chunk in flight are not kept (<see cref="Position"/> stays where
    /// that chunk began), so the session can go on from there.
    /// </exception>
    /// <exception cref="ModelNumericException">A layer's output or the logits are not finite.</exception>
    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens, CancellationToken cancellation = default)
    {
        CheckPrefill(tokens);
        int last = 0; // the last token's row in the last chunk
        for (int start = 0; start < tokens.Length; start += MaxChunk)
        {
            var chunk = tokens.Slice(start, Math.Min(MaxChunk, tokens.Length - start));
            Forward(chunk, cancellation);
            last = chunk.Length - 1;
        }
        OutputLogits(last, 1, _logits);
        return Logits;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> as <see cref="Prefill(ReadOnlySpan{int}, CancellationToken)"/> does and writes the
    /// logits after every token from <paramref name="firstLogit"/> on: row i of <paramref name="logits"/>
    /// ((tokens.Length - firstLogit, vocab)) holds the model's prediction after token firstLogit + i. For scoring a text
    /// (perplexity), where each position's prediction counts; the rows are computed chunk by chunk straight into
    /// <paramref name="logits"/>, so nothing is allocated. <see cref="Logits"/> is not changed.
    /// </summary>
    /// <exception cref="OperationCanceledException">As for <see cref="Prefill(ReadOnlySpan{int}, CancellationToken)"/>.</exception>
    /// <exception cref="ModelNumericException">A layer's output or the logits are not finite.</exception>
    public void Prefill(ReadOnlySpan<int> tokens, int firstLogit, Span<float> logits, CancellationToken cancellation = default)
    {
        CheckPrefill(tokens);
        if ((uint)firstLogit >= (uint)tokens.Length)
            throw new ArgumentOutOfRangeException(nameof(firstLogit), firstLogit, $"The first position with logits must be one of the {tokens.Length} tokens.");
        int vocab = _c.VocabularySize;
        if (logits.Length < (long)(tokens.Length - firstLogit) * vocab)
            throw new ArgumentException($"{tokens.Length - firstLogit} rows of {vocab} logits are needed; the span holds {logits.Length} values.", nameof(logits));
        fixed (float* destination = logits)
        {
            for (int start = 0; start < tokens.Length; start += MaxChunk)
            {
                var chunk = tokens.Slice(start, Math.Min(MaxChunk, tokens.Length - start));
                Forward(chunk, cancellation);
                // The chunk's tokens at or past firstLogit: rows [from, chunk.Length) of the chunk.
                int from = Math.Max(firstLogit - start, 0);
                if (from < chunk.Length) OutputLogits(from, chunk.Length - from, destination + (long)(start + from - firstLogit) * vocab);
            }
        }
    }

    private void CheckPrefill(ReadOnlySpan<int> tokens)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tokens.IsEmpty) throw new ArgumentException("At least one token is needed.", nameof(tokens));
        if (Position + tokens.Length > Capacity)
            throw new GenerationArgumentException(nameof(tokens), $"{Position + tokens.Length} tokens exceed the context of {Capacity}.");
    }

    /// <summary>Runs one token and returns its logits.</summary>
    public ReadOnlySpan<float> Decode(int token, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Position >= Capacity) throw new GenerationArgumentException(nameof(token), $"The context of {Capacity} tokens is full.");
        Forward([token], cancellation);
        OutputLogits(0, 1, _logits);
        return Logits;
    }

    /// <summary>Runs the decoder layers over <paramref name="tokens"/>, leaving their final residual stream in x (n, dim).</summary>
    private void Forward(ReadOnlySpan<int> tokens, CancellationToken cancellation)
    {
        var w = _weights;
        int n = tokens.Length, dim = _c.EmbeddingLength, kvDim = _c.KvDim, ffn = _c.FeedForwardLength, keyStride = _cache.KeyStride;
        int start = Position;
        var timings = Timings;
        var observer = LinearInputs;
        long mark = Stopwatch.GetTimestamp();
        void Done(ForwardTimings.Stage stage)
        {
            if (timings == null) return;
            timings.Add(stage, mark);
            mark = Stopwatch.GetTimestamp();
        }

        // x (n, dim) = embedding rows
        for (int t = 0; t < n; t++)
        {
            int id = tokens[t];
            if ((uint)id >= (uint)_c.VocabularySize) throw new GenerationArgumentException(nameof(tokens), $"Token id {id} is outside the vocabulary of {_c.VocabularySize}.");
            w.TokenEmbedding.DequantizeRow(id, Row(_x, t, dim));
        }
        Done(ForwardTimings.Stage.Embedding);

        for (int l = 0; l < _c.LayerCount; l++)
        {
            // Checked per layer, so a stop request during a long prefill chunk waits for one layer, not the whole chunk.
            cancellation.ThrowIfCancellationRequested();
            var layer = w.Layers[l];
            float* keys = _cache.Keys(l), values = _cache.Values(l);

            // Attention block. xb (n, dim) = rmsnorm(x); qkv (n, dim + 2 kvDim) = xb Wqkv^T
            _layer = l;
            _rows.Run(_matmul.Pool, TokenRowsJob.Stage.AttentionNorm, n);
            Done(ForwardTimings.Stage.Norms);
            observer?.Observe(l, LinearInput.QueryKeyValue, new ReadOnlySpan<float>(_xb, n * dim), n);
            _matmul.Multiply(layer.QueryKeyValue, _xb, _qkv, n);
            Done(ForwardTimings.Stage.QueryKeyValue);
            // Rotary embedding of q and k, then k and v into the cache at positions start..start+n-1.
            _rows.Run(_matmul.Pool, TokenRowsJob.Stage.RotaryAndCache, n);
            Done(ForwardTimings.Stage.RotaryAndCache);
            // attn (n, dim) = softmax(q k^T / sqrt(hd)) v, causal; xb (n, dim) = attn Wo^T; x += xb
            _attention.Run(_matmul.Pool, _qkv, _qkvStride, keys, keyStride, values, _attn, n, start);
            Done(ForwardTimings.Stage.Attention);
            observer?.Observe(l, LinearInput.AttentionOutput, new ReadOnlySpan<float>(_attn, n * dim), n);
            _matmul.Multiply(layer.AttentionOutput, _attn, _xb, n);
            Done(ForwardTimings.Stage.AttentionOutput);
            TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * dim), new ReadOnlySpan<float>(_xb, n * dim), new Span<float>(_x, n * dim));
            Done(ForwardTimings.Stage.Residual);

            // Feed-forward block. xb = rmsnorm(x); gateUp (n, 2 ffn) = xb [Wgate; Wup]^T
            _rows.Run(_matmul.Pool, TokenRowsJob.Stage.FeedForwardNorm, n);
            Done(ForwardTimings.Stage.Norms);
            observer?.Observe(l, LinearInput.GateUp, new ReadOnlySpan<float>(_xb, n * dim), n);
            _matmul.Multiply(layer.GateUp, _xb, _gateUp, n);
            Done(ForwardTimings.Stage.GateUp);
            // hidden (n, ffn) = silu(gate) * up; xb (n, dim) = hidden Wdown^T; x += xb
            _rows.Run(_matmul.Pool, TokenRowsJob.Stage.GatedActivation, n);
            Done(ForwardTimings.Stage.Activation);
            observer?.Observe(l, LinearInput.Down, new ReadOnlySpan<float>(_hidden, n * ffn), n);
            _matmul.Multiply(layer.Down, _hidden, _xb, n);
            Done(ForwardTimings.Stage.Down);
            TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * dim), new ReadOnlySpan<float>(_xb, n * dim), new Span<float>(_x, n * dim));
            // One sum over the residual stream (dim values a token, far cheaper than the layer) catches NaN and
            // infinity where they first appear, so a broken model is named as such instead of sampling token 0.
            if (!float.IsFinite(TensorPrimitives.Sum(new ReadOnlySpan<float>(_x, n * dim))))
                throw new ModelNumericException($"Layer {l} of {_model.Name} produced values that are not finite (NaN or infinity); the model's weights are damaged or its activations overflow.", l);
            Done(ForwardTimings.Stage.Residual);
        }
        Position = start + n;
    }

    /// <summary>
    /// destination (rows, vocab) = rmsnorm(x[first .. first + rows]) Wout^T: the logits after those tokens of the chunk
    /// just run.
    /// </summary>
    private void OutputLogits(int first, int rows, float* destination)
    {
        var w = _weights;
        int dim = _c.EmbeddingLength;
        long mark = Stopwatch.GetTimestamp();
        // xb (rows, dim) = rmsnorm(x rows); the layers are done with xb.
        for (int t = 0; t < rows; t++) Normalization.RmsNorm(Row(_x, first + t, dim), w.OutputNorm, Row(_xb, t, dim), _c.NormEpsilon);
        _matmul.Multiply(w.Output, _xb, destination, rows);
        if (!float.IsFinite(TensorPrimitives.Sum(new ReadOnlySpan<float>(destination, rows * _c.VocabularySize))))
            throw new ModelNumericException($"The output layer of {_model.Name} produced logits that are not finite (NaN or infinity).");
        Timings?.Add(ForwardTimings.Stage.Logits, mark);
    }

    /// <summary>An element-wise stage for tokens [begin, end) of the chunk in flight, on whichever thread runs it.</summary>
    private void RunRows(TokenRowsJob.Stage stage, int begin, int end)
    {
        var layer = _weights.Layers[_layer];
        int dim = _c.EmbeddingLength, kvDim = _c.KvDim, ffn = _c.FeedForwardLength;
        switch (stage)
        {
            case TokenRowsJob.Stage.AttentionNorm:
                for (int t = begin; t < end; t++) Normalization.RmsNorm(Row(_x, t, dim), layer.AttentionNorm, Row(_xb, t, dim), _c.NormEpsilon);
                break;
            case TokenRowsJob.Stage.FeedForwardNorm:
                for (int t = begin; t < end; t++) Normalization.RmsNorm(Row(_x, t, dim), layer.FeedForwardNorm, Row(_xb, t, dim), _c.NormEpsilon);
                break;
            case TokenRowsJob.Stage.RotaryAndCache:
            {
                float* keys = _cache.Keys(_layer), values = _cache.Values(_layer);
                long keyStride = _cache.KeyStride;
                for (int t = begin; t < end; t++)
                {
                    int position = Position + t;
                    var row = Row(_qkv, t, _qkvStride);
                    _rope.Apply(row.Slice(0, dim), position);
                    _rope.Apply(row.Slice(dim, kvDim), position);
                    // keys (kvDim, keyStride) transposed: column `position`; values (capacity, kvDim): row `position`
                    for (int j = 0; j < kvDim; j++) keys[j * keyStride + position] = row[dim + j];
                    row.Slice(dim + kvDim, kvDim).CopyTo(new Span<float>(values + (long)position * kvDim, kvDim));
                }
                break;
            }
            case TokenRowsJob.Stage.GatedActivation:
                for (int t = begin; t < end; t++)
                {
                    var gateUp = Row(_gateUp, t, 2 * ffn);
                    Activations.SwiGlu(gateUp.Slice(0, ffn), gateUp.Slice(ffn, ffn), Row(_hidden, t, ffn));
                }
                break;
        }
    }

    private static Span<float> Row(float* matrix, int row, int width) => new(matrix + (long)row * width, width);

    /// <summary>Returns the cache to its pool and releases the model; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _cachePool.Return(_cache);
        _buffers.Dispose();
        _matmul.Dispose();
        _model.ReleaseSessionReference();
    }
}
