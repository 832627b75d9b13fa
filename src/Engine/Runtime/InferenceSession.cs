using System.Diagnostics;
using System.Numerics.Tensors;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;
using LlmCpu.Kernels.Ops;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// One conversation with a model: its KV cache (a block table into the model's <see cref="KvCachePool"/>), its
/// position, and every buffer the forward pass needs, allocated when the session is created; cache blocks are taken
/// from the pool a block at a time as positions are reached, and given back on rewind and disposal. <see cref="Prefill"/> runs the prompt in chunks of up to
/// <see cref="MaxChunk"/> tokens (each weight matrix read once per chunk); <see cref="Decode"/> runs one token.
/// Neither allocates. Not thread-safe: one session per thread of generation.
/// The forward pass runs token rows of one or several sequences (<see cref="ForwardSegment"/>): a batched decode step
/// (<see cref="BatchedGenerator"/>) is one pass over the weights for one token of each of up to MaxChunk sequences,
/// each row rotated at its own position and attending to its own cache.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    public const int MaxChunk = 64;

    private readonly LanguageModel _model;
    private readonly ModelWeights _weights;
    private readonly ModelConfig _c;
    private readonly KvCache _cache;
    private readonly MatMulRunner _matmul;
    private readonly AttentionJob _attention;
    private readonly RotaryEmbedding _rope;
    private readonly TokenRowsJob _rows;
    private readonly Action<int, int> _rotateAndCacheHead; // RotateAndCacheHead, made once: a decode step allocates nothing
    private int _layer; // the layer the forward pass is in, for the element-wise stages
    private LayerWeights _layerWeights = null!; // that layer's weights
    private readonly NativeBuffer _buffers;
    private readonly int _qkvStride;
    private readonly int _gateUpStride;
    private bool _disposed;

    // Views into _buffers; shapes in comments.
    private readonly float* _x;       // (chunk, dim) residual stream
    private readonly float* _xb;      // (chunk, dim) normalized input of a sub-layer, then its output
    private readonly float* _ffnIn;   // (chunk, dim) the feed-forward network's own normalized input (parallel, two norms)
    private readonly float* _ffnOut;  // (chunk, dim) the feed-forward network's output (parallel layouts)
    private readonly float* _qkv;     // (chunk, dim + 2*kvDim) queries, keys, values
    private readonly float* _attn;    // (chunk, dim) attention output before the output projection
    private readonly float* _gateUp;  // (chunk, 2*ffn) gate then up projections; (chunk, ffn) up alone when not gated
    private readonly float* _hidden;  // (chunk, ffn) activation output
    private readonly float* _logits;  // (vocab) logits of the last token

    // Stage timing of the forward pass in flight (see Timings).
    private ForwardTimings? _timings;
    private long _mark;
    private ILinearInputObserver? _observer;
    private CancellationToken _cancellation; // of the pass in flight, checked at each stage's end (Done)

    // The segments of the pass in flight and, per token row, the segment it belongs to: the one place that maps a row
    // to its sequence's cache and position (RowCache).
    private readonly ForwardSegment[] _segments = new ForwardSegment[MaxChunk];
    private readonly int[] _segmentFirstRow = new int[MaxChunk]; // (segments) first row of each segment
    private readonly int[] _rowSegment = new int[MaxChunk];      // (chunk) segment of each row
    private int _segmentCount;

    /// <summary>A requested context is rounded up to a multiple of this many positions.</summary>
    public const int CapacityGrain = 256;

    /// <param name="contextLength">
    /// Positions the session needs (prompt plus answer); it may reach at least that many, rounded up to
    /// <see cref="CapacityGrain"/> and capped at the model's context (<see cref="LanguageModel.ContextLength"/>). Null
    /// asks for the model's whole context. Cache memory is taken from the pool only as positions are reached.
    /// </param>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public InferenceSession(LanguageModel model, WorkerPool pool, int? contextLength = null)
    {
        _model = model;
        _c = model.Config;
        int context = model.ContextLength;
        int capacity = contextLength is > 0
            ? (int)Math.Min((contextLength.Value + (long)CapacityGrain - 1) / CapacityGrain * CapacityGrain, context)
            : context;
        // The weights stay allocated while a session uses them, even if the model is disposed meanwhile.
        model.AddSessionReference();
        _weights = model.Weights;
        Capacity = capacity;
        _cache = new KvCache(model.KvCachePool, capacity);
        _matmul = new MatMulRunner(pool);
        _attention = new AttentionJob(_c.HeadCount, _c.KvHeadCount, _c.HeadDim, window: _c.SlidingWindow);
        _rope = new RotaryEmbedding(_c.HeadDim, capacity, _c.RopeScaling.InverseFrequencies(_c.RotaryDimensions, _c.RopeTheta),
            interleaved: _c.RotaryPairing == RotaryPairing.Interleaved);
        _rows = new TokenRowsJob(RunRows);
        _rotateAndCacheHead = RotateAndCacheHead;
        _qkvStride = _c.EmbeddingLength + 2 * _c.KvDim;
        _gateUpStride = _c.FeedForwardGated ? 2 * _c.FeedForwardLength : _c.FeedForwardLength;

        long dim = _c.EmbeddingLength, ffn = _c.FeedForwardLength;
        long ffnIn = _c.Residual == ResidualLayout.ParallelTwoNorms ? MaxChunk * dim : 0;
        long ffnOut = _c.Residual == ResidualLayout.Sequential ? 0 : MaxChunk * dim;
        long[] sizes = [MaxChunk * dim, MaxChunk * dim, ffnIn, ffnOut, MaxChunk * _qkvStride, MaxChunk * dim, MaxChunk * _gateUpStride, MaxChunk * ffn, _c.VocabularySize];
        // Each view starts on a 64-byte boundary.
        long total = sizes.Sum(s => (s + 15) / 16 * 16);
        _buffers = NativeBuffer.ForFloats(total);
        float* p = _buffers.Floats;
        float* Next(long size) { float* view = p; p += (size + 15) / 16 * 16; return view; }
        _x = Next(sizes[0]);
        _xb = Next(sizes[1]);
        _ffnIn = Next(sizes[2]);
        _ffnOut = Next(sizes[3]);
        _qkv = Next(sizes[4]);
        _attn = Next(sizes[5]);
        _gateUp = Next(sizes[6]);
        _hidden = Next(sizes[7]);
        _logits = Next(sizes[8]);
    }

    public LanguageModel Model => _model;

    /// <summary>The worker threads the session's matrix products run on.</summary>
    public WorkerPool Pool => _matmul.Pool;

    /// <summary>Tokens held in the cache so far.</summary>
    public int Position { get; private set; }

    /// <summary>Positions the cache holds.</summary>
    public int Capacity { get; }

    /// <summary>The session's keys and values: its block table into the model's pool.</summary>
    public KvCache Cache => _cache;

    /// <summary>
    /// Bytes of cache blocks the session holds now: its positions in whole blocks, or with a sliding window only the
    /// blocks the window still reaches (older ones go back to the pool as the window moves on).
    /// </summary>
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

    /// <summary>Forgets the conversation and gives its cache blocks back to the pool; the next token runs at position 0.</summary>
    public void Reset()
    {
        Position = 0;
        _cache.ReleaseFrom(0);
    }

    /// <summary>
    /// Forgets the tokens from <paramref name="position"/> on, so the next token runs there (a chat turn stopped midway
    /// goes back to where it began), and gives back the blocks that held only those. Possible where every position the
    /// next token attends to is still in the cache: always, unless a sliding window has let those blocks go; then it
    /// returns false and changes nothing.
    /// </summary>
    public bool TryRewind(int position)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(position);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(position, Position);
        if (_c.SlidingWindow is { } window && position > 0)
        {
            for (int b = Math.Max(0, position - window + 1) / KvCache.KeyBlock; b <= (position - 1) / KvCache.KeyBlock; b++)
                if (!_cache.Holds(b)) return false;
        }
        Position = position;
        _cache.ReleaseFrom(position);
        return true;
    }

    /// <summary>
    /// Makes room in a full context the way llama.cpp's context shift does: keeps the first <paramref name="keep"/>
    /// tokens, drops the <paramref name="discard"/> after them, and moves the rest down by <paramref name="discard"/>
    /// positions, rotating their keys back by that many positions (rotary embeddings compose, so a key rotated at p and
    /// then by -discard is the key at p - discard). Values carry no position and move as they are. The moved tokens'
    /// keys and values keep what they attended to before (the dropped tokens included): that is what makes a shift
    /// cheap, and why it approximates, not equals, running the kept tokens again. With INT8 storage a moved key is read
    /// back as FP32, rotated and quantized again with a new scale: one more rounding of at most half a step per element,
    /// which is accepted rather than rotating in the integer domain (a rotation mixes pairs of dimensions, so the bytes
    /// could not keep their scale anyway).
    /// </summary>
    /// <exception cref="GenerationArgumentException">The model attends through a sliding window (it never fills its context this way).</exception>
    public void ShiftContext(int keep, int discard)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_c.SlidingWindow != null)
            throw new GenerationArgumentException(nameof(keep), $"{_model.Name} attends through a sliding window of {_c.SlidingWindow} positions; its context is not shifted.");
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        ArgumentOutOfRangeException.ThrowIfLessThan(discard, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(discard, Position - keep);
        int kvDim = _c.KvDim;
        // The forward pass's scratch rows are free between calls.
        var key = new Span<float>(_xb, kvDim);
        var value = new Span<float>(_attn, kvDim);
        for (int l = 0; l < _c.LayerCount; l++)
        {
            // Ascending, so a position is read before anything is written over it.
            for (int p = keep + discard; p < Position; p++)
            {
                _cache.Read(l, p, key, value);
                _rope.ApplyInverse(key, discard);
                _cache.Write(l, p - discard, key, value);
            }
        }
        Position -= discard;
        _cache.ReleaseFrom(Position);
    }

    /// <summary>Runs <paramref name="tokens"/> through the model from the current position and returns the last token's logits.</summary>
    /// <exception cref="OperationCanceledException">
    /// Cancelled between two stages of a layer (attention, projections, norms); the tokens of the chunk in flight are not kept (<see cref="Position"/> stays where
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

    /// <summary>
    /// One forward pass over token rows of several sequences, each weight matrix read once for all of them:
    /// <paramref name="tokens"/> holds the segments' tokens one after another, segment by segment, and row i of
    /// <paramref name="logits"/> ((segments, vocab)) receives the logits after the last token of the i-th segment that
    /// <see cref="ForwardSegment.WantsLogits"/> (every segment, unless some say otherwise). The caches must have this
    /// session's shape (<see cref="RentCache"/>); the session's own <see cref="Position"/> is not changed. With
    /// <paramref name="logits"/> empty no logits are computed (a prompt chunk followed by more of the prompt).
    /// </summary>
    /// <exception cref="KvCacheExhaustedException">A segment's positions need blocks the pool does not have; no cache has been written.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between two stages of a layer; what the caches hold past each segment's start is then undefined.</exception>
    /// <exception cref="ModelNumericException">A layer's output or the logits are not finite.</exception>
    internal void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<ForwardSegment> segments, Span<float> logits, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!logits.IsEmpty)
        {
            int wanted = 0;
            foreach (var segment in segments) if (segment.WantsLogits) wanted++;
            if (logits.Length < (long)wanted * _c.VocabularySize)
                throw new ArgumentException($"{wanted} rows of {_c.VocabularySize} logits are needed; the span holds {logits.Length} values.", nameof(logits));
        }
        Forward(tokens, segments, cancellation);
        if (logits.IsEmpty) return;
        int dim = _c.EmbeddingLength;
        _timings = Timings;
        _mark = Stopwatch.GetTimestamp();
        // xb row i = norm(x) of the last token of the i-th segment that wants logits, so one product gives them all.
        int rows = 0;
        for (int s = 0; s < _segmentCount; s++)
        {
            if (!_segments[s].WantsLogits) continue;
            int last = _segmentFirstRow[s] + _segments[s].Count - 1;
            Normalize(Row(_x, last, dim), _weights.OutputNorm, _weights.OutputNormBias, Row(_xb, rows++, dim));
        }
        if (rows > 0)
        {
            fixed (float* destination = logits) ProjectLogits(rows, destination);
        }
    }

    /// <summary>
    /// Writes the embedding rows of <paramref name="tokens"/> into <paramref name="states"/> ((tokens, dim)): the input
    /// of layer 0, as a forward pass starts from it. With <see cref="ForwardLayer"/>, how a calibration carries the
    /// hidden states of its windows from one layer to the next instead of running the whole model for each layer.
    /// </summary>
    internal void Embed(ReadOnlySpan<int> tokens, Span<float> states)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int dim = _c.EmbeddingLength;
        if (states.Length < (long)tokens.Length * dim) throw new ArgumentException($"{tokens.Length} rows of {dim} values are needed; the span holds {states.Length}.", nameof(states));
        EmbedRows(tokens, states);
    }

    /// <summary>
    /// Runs decoder layer <paramref name="layer"/> alone, with <paramref name="weights"/> (which need not be the model's),
    /// on <paramref name="input"/> ((tokens, dim): the hidden states that layer receives) at positions
    /// <see cref="Position"/> onwards, and writes its output to <paramref name="output"/> (which may be
    /// <paramref name="input"/>, or empty when only what <see cref="LinearInputs"/> sees is wanted). The rows go in
    /// chunks of <see cref="MaxChunk"/> exactly as <see cref="Prefill(ReadOnlySpan{int}, CancellationToken)"/> runs them,
    /// each attending to the keys and values this call and the ones before it since <see cref="Reset"/> wrote at that
    /// layer; so layer l fed the states layer l - 1 produced this way computes what the whole forward pass computes there.
    /// <see cref="Position"/> moves on by the rows run.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled between two stages of the layer; <see cref="Position"/> stays where the chunk in flight began.</exception>
    /// <exception cref="ModelNumericException">The layer's output is not finite.</exception>
    internal void ForwardLayer(int layer, LayerWeights weights, ReadOnlySpan<float> input, Span<float> output, CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(layer);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, _c.LayerCount);
        int dim = _c.EmbeddingLength;
        if (input.IsEmpty || input.Length % dim != 0) throw new ArgumentException($"The input must be whole rows of {dim} values; it holds {input.Length}.", nameof(input));
        int tokens = input.Length / dim;
        if (!output.IsEmpty && output.Length < input.Length) throw new ArgumentException($"The output must hold the input's {input.Length} values; it holds {output.Length}.", nameof(output));
        if (Position + tokens > Capacity) throw new GenerationArgumentException(nameof(input), $"{Position + tokens} tokens exceed the context of {Capacity}.");
        for (int start = 0; start < tokens; start += MaxChunk)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(MaxChunk, tokens - start);
            BeginPass([new ForwardSegment(_cache, Position, n)], n, cancellation);
            input.Slice(start * dim, n * dim).CopyTo(new Span<float>(_x, n * dim));
            Layer(layer, weights, n);
            if (!output.IsEmpty) new ReadOnlySpan<float>(_x, n * dim).CopyTo(output.Slice(start * dim, n * dim));
            Position += n;
        }
    }

    /// <summary>
    /// Makes <paramref name="segment"/>'s cache ready for its positions: blocks its first token no longer sees go back
    /// to the pool (a sliding window), then its own positions get blocks, all or none. A forward pass does this for
    /// each of its segments; a batch does it first, so a pool that runs short ends one sequence, not the whole pass.
    /// </summary>
    /// <exception cref="KvCacheExhaustedException">The pool has too few free blocks; the cache is as it was, less the blocks out of the window.</exception>
    internal void Reserve(ForwardSegment segment)
    {
        if (_c.SlidingWindow is { } window) segment.Cache.ReleaseBefore(segment.Start - window + 1);
        segment.Cache.Reserve(segment.Start, segment.Start + segment.Count);
    }

    /// <summary>
    /// An empty block table of this session's capacity into the model's pool, for a sequence of a batched pass; it takes
    /// blocks as its positions are reached. Give it back with <see cref="ReturnCache"/>.
    /// </summary>
    internal KvCache RentCache() => new(_model.KvCachePool, Capacity);

    internal void ReturnCache(KvCache cache) => cache.Dispose();

    /// <summary>The tokens at the session's position, its own cache: one segment.</summary>
    private void Forward(ReadOnlySpan<int> tokens, CancellationToken cancellation)
    {
        Forward(tokens, [new ForwardSegment(_cache, Position, tokens.Length)], cancellation);
        Position += tokens.Length;
    }

    /// <summary>
    /// What every pass over n rows does first: its segments taken and their cache blocks reserved (before anything is
    /// written), and the profiling timings and input observer of this pass picked up.
    /// </summary>
    private void BeginPass(ReadOnlySpan<ForwardSegment> segments, int n, CancellationToken cancellation)
    {
        SetSegments(segments, n);
        _cancellation = cancellation;
        ReserveBlocks();
        _timings = Timings;
        _observer = LinearInputs;
        _mark = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Takes the segments of the pass about to run and maps each token row to its segment (the cache and position
    /// that <see cref="RowCache"/> hands out).
    /// </summary>
    private void SetSegments(ReadOnlySpan<ForwardSegment> segments, int tokens)
    {
        if (segments.IsEmpty || segments.Length > MaxChunk) throw new ArgumentException($"A pass holds 1 to {MaxChunk} segments, not {segments.Length}.", nameof(segments));
        int row = 0;
        for (int s = 0; s < segments.Length; s++)
        {
            var segment = segments[s];
            if (segment.Count <= 0 || row + segment.Count > tokens)
                throw new ArgumentException($"Segment {s} holds {segment.Count} tokens; the segments must share the {tokens} tokens, each at least one.", nameof(segments));
            if (segment.Cache.Capacity != _cache.Capacity || segment.Cache.Layers != _c.LayerCount || segment.Cache.KvDim != _c.KvDim)
                throw new ArgumentException($"Segment {s}'s cache is not of this session's shape.", nameof(segments));
            if (segment.Start < 0 || segment.Start + segment.Count > Capacity)
                throw new GenerationArgumentException(nameof(segments), $"{segment.Start + segment.Count} tokens exceed the context of {Capacity}.");
            _segments[s] = segment;
            _segmentFirstRow[s] = row;
            for (int end = row + segment.Count; row < end; row++) _rowSegment[row] = s;
        }
        if (row != tokens) throw new ArgumentException($"The segments hold {row} tokens, not the {tokens} given.", nameof(segments));
        _segmentCount = segments.Length;
    }

    /// <summary>
    /// Before anything is written: each segment's blocks its first token no longer sees go back to the pool, so a
    /// windowed sequence holds only about its window; then the segment's own positions get blocks (all or none for a
    /// segment, so a pool that runs short stops the pass before it changes a cache).
    /// </summary>
    private void ReserveBlocks()
    {
        for (int s = 0; s < _segmentCount; s++) Reserve(_segments[s]);
    }

    /// <summary>The cache of token row <paramref name="t"/>'s sequence and the row's position in it.</summary>
    private KvCache RowCache(int t, out int position)
    {
        int s = _rowSegment[t];
        position = _segments[s].Start + t - _segmentFirstRow[s];
        return _segments[s].Cache;
    }

    /// <summary>
    /// The decoder on <paramref name="tokens"/>, read top to bottom: embedding, then per layer attention and the
    /// feed-forward network joined to the residual stream as the architecture lays them out. Leaves the final residual
    /// stream in x (n, dim); <see cref="OutputLogits"/> turns the rows wanted into logits. Rows belong to the
    /// sequences of <paramref name="segments"/>; only attention and the cache write tell them apart.
    /// </summary>
    private void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<ForwardSegment> segments, CancellationToken cancellation)
    {
        int n = tokens.Length;
        if (n > MaxChunk) throw new ArgumentException($"A pass holds at most {MaxChunk} tokens, not {n}.", nameof(tokens));
        BeginPass(segments, n, cancellation);

        Embed(tokens);
        for (int l = 0; l < _c.LayerCount; l++) Layer(l, _weights.Layers[l], n);
    }

    /// <summary>
    /// Decoder layer <paramref name="l"/> with <paramref name="layer"/>'s weights on the n rows of the residual stream x
    /// (n, dim), in place: attention against each segment's cache at that layer, then the feed-forward network.
    /// </summary>
    private void Layer(int l, LayerWeights layer, int n)
    {
        _layer = l;
        _layerWeights = layer;
        Attention(layer, n);
        if (_c.Residual == ResidualLayout.Sequential)
        {
            // x += attn Wo^T; xb = norm2(x); x += mlp(xb)
            _observer?.Observe(l, LinearInput.AttentionOutput, new ReadOnlySpan<float>(_attn, n * _c.EmbeddingLength), n);
            _matmul.Multiply(layer.AttentionOutput, _attn, _xb, n);
            Done(ForwardTimings.Stage.AttentionOutput);
            AddToResidual(_xb, layer.AttentionOutputBias, n);
            _rows.Run(_matmul.Pool, TokenRowsJob.Stage.FeedForwardNorm, n, _c.EmbeddingLength);
            Done(ForwardTimings.Stage.Norms);
            FeedForward(layer, _xb, _xb, n);
            AddToResidual(_xb, layer.DownBias, n);
        }
        else
        {
            // x += attn Wo^T + mlp(h), h the attention's normalized input or the network's own norm of the same x.
            // The network runs first: the output projection then writes over xb, which it no longer needs.
            FeedForward(layer, _c.Residual == ResidualLayout.ParallelTwoNorms ? _ffnIn : _xb, _ffnOut, n);
            _observer?.Observe(l, LinearInput.AttentionOutput, new ReadOnlySpan<float>(_attn, n * _c.EmbeddingLength), n);
            _matmul.Multiply(layer.AttentionOutput, _attn, _xb, n);
            Done(ForwardTimings.Stage.AttentionOutput);
            AddToResidual(_xb, layer.AttentionOutputBias, n);
            AddToResidual(_ffnOut, layer.DownBias, n);
        }
        // One sum over the residual stream (dim values a token, far cheaper than the layer) catches NaN and
        // infinity where they first appear, so a broken model is named as such instead of sampling token 0.
        if (!float.IsFinite(TensorPrimitives.Sum(new ReadOnlySpan<float>(_x, n * _c.EmbeddingLength))))
            throw new ModelNumericException($"Layer {l} of {_model.Name} produced values that are not finite (NaN or infinity); the model's weights are damaged or its activations overflow.", l);
        Done(ForwardTimings.Stage.Residual);
    }

    /// <summary>x (n, dim) = embedding rows.</summary>
    private void Embed(ReadOnlySpan<int> tokens)
    {
        EmbedRows(tokens, new Span<float>(_x, tokens.Length * _c.EmbeddingLength));
        Done(ForwardTimings.Stage.Embedding);
    }

    /// <summary>states (tokens, dim) = embedding rows.</summary>
    private void EmbedRows(ReadOnlySpan<int> tokens, Span<float> states)
    {
        int dim = _c.EmbeddingLength;
        for (int t = 0; t < tokens.Length; t++)
        {
            int id = tokens[t];
            if ((uint)id >= (uint)_c.VocabularySize) throw new GenerationArgumentException(nameof(tokens), $"Token id {id} is outside the vocabulary of {_c.VocabularySize}.");
            _weights.TokenEmbedding.DequantizeRow(id, states.Slice(t * dim, dim));
        }
    }

    /// <summary>
    /// xb (n, dim) = norm(x) (and, with two parallel norms, ffnIn = norm2(x)); qkv = xb Wqkv^T (+ bias), rotated, keys
    /// and values into each segment's cache at its positions; attn (n, dim) = softmax(q k^T / sqrt(hd)) v per segment
    /// against its own cache, causal, within the sliding window if there is one.
    /// </summary>
    private void Attention(LayerWeights layer, int n)
    {
        _rows.Run(_matmul.Pool, TokenRowsJob.Stage.AttentionNorm, n, _c.Residual == ResidualLayout.ParallelTwoNorms ? 2 * _c.EmbeddingLength : _c.EmbeddingLength);
        Done(ForwardTimings.Stage.Norms);
        _observer?.Observe(_layer, LinearInput.QueryKeyValue, new ReadOnlySpan<float>(_xb, n * _c.EmbeddingLength), n);
        _matmul.Multiply(layer.QueryKeyValue, _xb, _qkv, n);
        Done(ForwardTimings.Stage.QueryKeyValue);
        // A decode step (every segment one token) rotates and caches each key/value head in the attention's work item
        // that reads it (see AttentionJob.Run); its RotaryAndCache time is then part of Attention's.
        bool headsInItems = n == _segmentCount && _attention.CanPrepareHeads;
        if (!headsInItems)
        {
            _rows.Run(_matmul.Pool, TokenRowsJob.Stage.RotaryAndCache, n, _qkvStride);
            Done(ForwardTimings.Stage.RotaryAndCache);
        }
        _attention.Run(_matmul.Pool, _qkv, _qkvStride, _layer, _attn, _segments.AsSpan(0, _segmentCount), _segmentFirstRow.AsSpan(0, _segmentCount),
            headsInItems ? _rotateAndCacheHead : null);
        Done(ForwardTimings.Stage.Attention);
    }

    /// <summary>
    /// output (n, dim) = act(input Wgate^T) * (input Wup^T) Wdown^T, or act(input Wup^T) Wdown^T ungated, biases added
    /// before the activation; the down projection's bias is left to the residual. <paramref name="output"/> may be
    /// <paramref name="input"/>.
    /// </summary>
    private void FeedForward(LayerWeights layer, float* input, float* output, int n)
    {
        _observer?.Observe(_layer, LinearInput.GateUp, new ReadOnlySpan<float>(input, n * _c.EmbeddingLength), n);
        _matmul.Multiply(layer.GateUp, input, _gateUp, n);
        Done(ForwardTimings.Stage.GateUp);
        _rows.Run(_matmul.Pool, TokenRowsJob.Stage.Activation, n, _gateUpStride);
        Done(ForwardTimings.Stage.Activation);
        _observer?.Observe(_layer, LinearInput.Down, new ReadOnlySpan<float>(_hidden, n * _c.FeedForwardLength), n);
        _matmul.Multiply(layer.Down, _hidden, output, n);
        Done(ForwardTimings.Stage.Down);
    }

    /// <summary>x (n, dim) += output (+ bias on every token).</summary>
    private void AddToResidual(float* output, float[]? bias, int n)
    {
        int dim = _c.EmbeddingLength;
        TensorPrimitives.Add(new ReadOnlySpan<float>(_x, n * dim), new ReadOnlySpan<float>(output, n * dim), new Span<float>(_x, n * dim));
        if (bias != null)
        {
            for (int t = 0; t < n; t++) TensorPrimitives.Add(Row(_x, t, dim), bias, Row(_x, t, dim));
        }
        Done(ForwardTimings.Stage.Residual);
    }

    /// <summary>
    /// destination (rows, vocab) = norm(x[first .. first + rows]) Wout^T (+ bias): the logits after those tokens of the
    /// chunk just run. The layers are done with xb, so it holds the normalized rows.
    /// </summary>
    private void OutputLogits(int first, int rows, float* destination)
    {
        int dim = _c.EmbeddingLength;
        var w = _weights;
        _timings = Timings;
        _mark = Stopwatch.GetTimestamp();
        for (int t = 0; t < rows; t++) Normalize(Row(_x, first + t, dim), w.OutputNorm, w.OutputNormBias, Row(_xb, t, dim));
        ProjectLogits(rows, destination);
    }

    /// <summary>destination (rows, vocab) = xb[0 .. rows] Wout^T (+ bias), the rows already normalized.</summary>
    private void ProjectLogits(int rows, float* destination)
    {
        int vocab = _c.VocabularySize;
        var w = _weights;
        _matmul.Multiply(w.Output, _xb, destination, rows);
        var logits = new Span<float>(destination, rows * vocab);
        if (w.OutputBias != null)
        {
            for (int t = 0; t < rows; t++) TensorPrimitives.Add(logits.Slice(t * vocab, vocab), w.OutputBias, logits.Slice(t * vocab, vocab));
        }
        if (!float.IsFinite(TensorPrimitives.Sum(logits)))
            throw new ModelNumericException($"The output layer of {_model.Name} produced logits that are not finite (NaN or infinity).");
        Done(ForwardTimings.Stage.Logits);
    }

    /// <summary>Adds the time since the last stage ended to <paramref name="stage"/>, when timings are collected.</summary>
    private void Done(ForwardTimings.Stage stage)
    {
        // Each stage's end is also where a stop request is seen: a 512-token chunk of a 1.1B model spends a fifth of a
        // second in a layer on two cores, several times that on a loaded machine, and a stop should not wait for it.
        // The cache rows the pass wrote past the session's position are simply written again by the next pass.
        _cancellation.ThrowIfCancellationRequested();
        if (_timings == null) return;
        _timings.Add(stage, _mark);
        _mark = Stopwatch.GetTimestamp();
    }

    private void Normalize(ReadOnlySpan<float> x, float[] weight, float[]? bias, Span<float> output)
    {
        if (_c.Norm == NormKind.Rms) Normalization.RmsNorm(x, weight, output, _c.NormEpsilon);
        else Normalization.LayerNorm(x, weight, bias, output, _c.NormEpsilon);
    }

    /// <summary>An element-wise stage for tokens [begin, end) of the chunk in flight, on whichever thread runs it.</summary>
    private void RunRows(TokenRowsJob.Stage stage, int begin, int end)
    {
        var layer = _layerWeights;
        int dim = _c.EmbeddingLength;
        switch (stage)
        {
            case TokenRowsJob.Stage.AttentionNorm:
                for (int t = begin; t < end; t++)
                {
                    Normalize(Row(_x, t, dim), layer.AttentionNorm, layer.AttentionNormBias, Row(_xb, t, dim));
                    if (_c.Residual == ResidualLayout.ParallelTwoNorms)
                        Normalize(Row(_x, t, dim), layer.FeedForwardNorm!, layer.FeedForwardNormBias, Row(_ffnIn, t, dim));
                }
                break;
            case TokenRowsJob.Stage.FeedForwardNorm:
                for (int t = begin; t < end; t++) Normalize(Row(_x, t, dim), layer.FeedForwardNorm!, layer.FeedForwardNormBias, Row(_xb, t, dim));
                break;
            case TokenRowsJob.Stage.RotaryAndCache:
                for (int t = begin; t < end; t++) RotateAndCache(t);
                break;
            case TokenRowsJob.Stage.Activation:
                for (int t = begin; t < end; t++) Activate(layer, t);
                break;
        }
    }

    /// <summary>Token t's queries and keys (+ biases) rotated at its position; its key and value into the cache.</summary>
    private void RotateAndCache(int t)
    {
        for (int kvHead = 0; kvHead < _c.KvHeadCount; kvHead++) RotateAndCacheHead(t, kvHead);
    }

    /// <summary>
    /// <see cref="RotateAndCache"/> for one key/value head of token t: its group's queries and its key (+ biases)
    /// rotated, its key and value into the cache. A decode step's attention work item for that head calls this on its
    /// worker; a prefill chunk's row stage calls it for every head of a token.
    /// </summary>
    private void RotateAndCacheHead(int t, int kvHead)
    {
        int dim = _c.EmbeddingLength, kvDim = _c.KvDim, hd = _c.HeadDim, group = _c.HeadCount / _c.KvHeadCount;
        var cache = RowCache(t, out int position);
        var row = Row(_qkv, t, _qkvStride);
        int query = kvHead * group * hd, key = dim + kvHead * hd, value = dim + kvDim + kvHead * hd;
        if (_layerWeights.QueryKeyValueBias is { } bias)
        {
            TensorPrimitives.Add(row.Slice(query, group * hd), bias.AsSpan(query, group * hd), row.Slice(query, group * hd));
            TensorPrimitives.Add(row.Slice(key, hd), bias.AsSpan(key, hd), row.Slice(key, hd));
            TensorPrimitives.Add(row.Slice(value, hd), bias.AsSpan(value, hd), row.Slice(value, hd));
        }
        _rope.Apply(row.Slice(query, group * hd), position);
        _rope.Apply(row.Slice(key, hd), position);
        cache.WritePart(_layer, position, kvHead * hd, row.Slice(key, hd), row.Slice(value, hd));
    }

    /// <summary>hidden[t] (ffn) = act(gate) * up, or act(up) when not gated, from token t's projections (+ biases).</summary>
    private void Activate(LayerWeights layer, int t)
    {
        int ffn = _c.FeedForwardLength;
        var gateUp = Row(_gateUp, t, _gateUpStride);
        var hidden = Row(_hidden, t, ffn);
        if (layer.GateUpBias != null) TensorPrimitives.Add(gateUp, layer.GateUpBias, gateUp);
        if (_c.FeedForwardGated && _c.Activation == FeedForwardActivation.Silu)
        {
            Activations.SwiGlu(gateUp.Slice(0, ffn), gateUp.Slice(ffn, ffn), hidden);
            return;
        }
        var activated = gateUp.Slice(0, ffn);
        switch (_c.Activation)
        {
            case FeedForwardActivation.Silu: Activations.Silu(activated, hidden); break;
            case FeedForwardActivation.Gelu: Activations.Gelu(activated, hidden); break;
            default: Activations.GeluTanh(activated, hidden); break;
        }
        if (_c.FeedForwardGated) TensorPrimitives.Multiply(hidden, gateUp.Slice(ffn, ffn), hidden);
    }

    private static Span<float> Row(float* matrix, int row, int width) => new(matrix + (long)row * width, width);

    /// <summary>Gives the cache's blocks back to the pool and releases the model; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _cache.Dispose();
        _buffers.Dispose();
        _matmul.Dispose();
        _model.ReleaseSessionReference();
    }
}
