using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Engine.Numerics;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Causal grouped-query attention for a chunk of tokens whose keys and values are already in the cache, as a blocked
/// kernel with an online softmax. A work item is one key/value head and a tile of query rows: the query heads that
/// share that key/value head (so they share every read of its keys and values) for a few tokens. The item walks the
/// cached positions in blocks of <see cref="KvCache.KeyBlock"/>: scores of all its rows against the block (keys are
/// stored transposed, so 8 positions are one vector load and no sum across a register is needed), then for each row
/// the running maximum, the rescale of what was accumulated so far, and the weighted sum of the block's values.
/// Key block b of positions is the sequence's block b, found through its block table (<see cref="KvCache"/>), so the
/// blocks may lie anywhere in the model's pool. With FP16 or INT8 storage the item converts the block's keys and values
/// of its key/value head to FP32 once, into its scratch, and every row reads those (INT8: <see cref="Int8KvBlock"/>).
/// With a sliding window of w positions, token p attends to positions p - w + 1 .. p only: blocks wholly before the
/// window are skipped (the sequence may have given them back) and the rest of the block is masked like the causal tail.
/// One call may attend for several sequences at once (the segments of a forward pass, each with its own cache and
/// start): their work items are laid end to end in one dispatch.
/// Nothing is allocated; the scratch of an item lives on its worker's stack.
/// </summary>
internal sealed unsafe class AttentionJob : IRangeJob
{
    /// <summary>Query rows one work item handles at most: 32 rows x 64 positions of scores is 8 KB of stack.</summary>
    private const int MaxRows = 32;

    private const int KeyBlock = KvCache.KeyBlock;

    /// <summary>Sequences one call attends for at most: as many as a forward pass has token rows.</summary>
    public const int MaxSegments = InferenceSession.MaxChunk;

    private readonly int _heads;
    private readonly int _headDim;
    private readonly int _kvDim;
    private readonly int _groupSize;
    private readonly int _headsPerItem;
    private readonly int _headSlices;
    private readonly float _scale;
    private readonly bool _vector256;
    private readonly bool _vector128;
    private readonly bool _vector512;
    private readonly int _window;

    // Arguments of the call in flight: the pass's rows, and per segment (a sequence's consecutive rows) its cache,
    // first position, first row, rows and first work item; _firstItem[_segmentCount] is the number of items.
    private float* _qkv;     // (rows, qkvStride), queries at column 0
    private int _qkvStride;
    private int _layer;
    private float* _output;  // (rows, dim)
    private int _tokensPerItem;
    private int _segmentCount;
    private Action<int, int>? _prepareHead;
    private readonly KvCache?[] _caches = new KvCache?[MaxSegments]; // per block: (kvDim, KeyBlock) transposed keys, then (KeyBlock, kvDim) values
    private readonly int[] _starts = new int[MaxSegments];
    private readonly int[] _firstRows = new int[MaxSegments];
    private readonly int[] _tokens = new int[MaxSegments];
    private readonly int[] _firstItem = new int[MaxSegments + 1];

    /// <param name="window">Positions a token attends to, itself included; null for all before it.</param>
    /// <param name="allowVector128">
    /// Use 128-bit vectors where the head dimension allows (a multiple of 4) and no wider path applies: what ARM64
    /// processors run. Off (with <paramref name="allowVector256"/>), heads take the scalar loops that odd head sizes
    /// run; tests turn it off to check those here.
    /// </param>
    /// <param name="allowVector256">
    /// Use 256-bit vectors where the head dimension allows (a multiple of 8). Off, heads take the 128-bit path (or the
    /// scalar one); tests turn it off to check those here.
    /// </param>
    /// <param name="allowVector512">
    /// Use 512-bit vectors where the processor has them and the head dimension allows (a multiple of 16): twice the
    /// products an operation of the two inner loops. Off, such heads take the 256-bit path; tests turn it off to check it.
    /// </param>
    public AttentionJob(int heads, int kvHeads, int headDim, bool allowVector256 = true, int? window = null, bool allowVector512 = true, bool allowVector128 = true)
    {
        if (window is <= 0) throw new ArgumentOutOfRangeException(nameof(window), window, "The window must hold at least one position.");
        _window = window ?? int.MaxValue;
        _heads = heads;
        _headDim = headDim;
        _kvDim = kvHeads * headDim;
        _groupSize = heads / kvHeads;
        // A group larger than a tile (multi-query attention with many heads) is split into slices of query heads.
        _headsPerItem = Math.Min(_groupSize, MaxRows);
        _headSlices = (_groupSize + _headsPerItem - 1) / _headsPerItem;
        _scale = 1f / MathF.Sqrt(headDim);
        _vector256 = allowVector256 && Vector256.IsHardwareAccelerated && headDim % 8 == 0;
        _vector512 = _vector256 && allowVector512 && Vector512.IsHardwareAccelerated && Avx512F.IsSupported && headDim % 16 == 0;
        _vector128 = allowVector128 && Vector128.IsHardwareAccelerated && headDim % 4 == 0;
    }

    /// <summary>
    /// attn (tokens, dim) = softmax(q k^T / sqrt(hd)) v over positions 0..start+t for token t, keys and values from
    /// <paramref name="layer"/> of <paramref name="cache"/>, which must hold every block those positions are in.
    /// </summary>
    public void Run(WorkerPool pool, float* qkv, int qkvStride, KvCache cache, int layer, float* output, int tokens, int startPosition)
    {
        Begin(qkv, qkvStride, layer, output);
        Add(cache, startPosition, 0, tokens);
        Dispatch(pool);
    }

    /// <summary>
    /// Attention for every segment of a forward pass in one dispatch: segment s's rows, from row
    /// <paramref name="firstRows"/>[s] of <paramref name="qkv"/> and <paramref name="output"/>, attend as
    /// <see cref="Run(WorkerPool, float*, int, KvCache, int, float*, int, int)"/> does to their own cache from their own
    /// start. A batched decode step's sequences have one row each: a dispatch per sequence would cost more than the
    /// attention of a short context, and the workers would wait at every one.
    /// </summary>
    /// <param name="prepareHead">
    /// Null, or, when every segment is one token (a decode step) and <see cref="CanPrepareHeads"/>, what makes the keys
    /// and values of a row's key/value head ready before its work item reads them: called as (row, key/value head) at
    /// the start of each item, on the worker that runs it. Decode rotates that head's queries and key and writes its key
    /// and value into the cache there: the key's transposed write touches a cache line per dimension, the very lines
    /// the item then reads for its scores, and the heads' writes are spread over the workers instead of all on the
    /// calling thread before the dispatch.
    /// </param>
    public void Run(WorkerPool pool, float* qkv, int qkvStride, int layer, float* output, ReadOnlySpan<ForwardSegment> segments, ReadOnlySpan<int> firstRows,
        Action<int, int>? prepareHead = null)
    {
        if (segments.Length > MaxSegments) throw new ArgumentException($"At most {MaxSegments} segments, not {segments.Length}.", nameof(segments));
        if (prepareHead != null && !CanPrepareHeads) throw new InvalidOperationException("Key/value heads are split between work items; they cannot be prepared by them.");
        Begin(qkv, qkvStride, layer, output);
        for (int s = 0; s < segments.Length; s++)
        {
            if (prepareHead != null && segments[s].Count != 1) throw new ArgumentException("Heads are prepared by the work items only when every segment is one token.", nameof(prepareHead));
            Add(segments[s].Cache, segments[s].Start, firstRows[s], segments[s].Count);
        }
        _prepareHead = prepareHead;
        try
        {
            Dispatch(pool);
        }
        finally
        {
            _prepareHead = null;
        }
    }

    /// <summary>Whether one work item holds all the query heads of its key/value head (groups of at most 32), as preparing heads in the items needs.</summary>
    public bool CanPrepareHeads => _headSlices == 1;

    private void Begin(float* qkv, int qkvStride, int layer, float* output)
    {
        _qkv = qkv;
        _qkvStride = qkvStride;
        _layer = layer;
        _output = output;
        _tokensPerItem = Math.Max(1, MaxRows / _headsPerItem);
        _segmentCount = 0;
        _firstItem[0] = 0;
    }

    /// <summary>A segment's work items: for each tile of its tokens, each key/value head and slice of its query heads.</summary>
    private void Add(KvCache cache, int start, int firstRow, int tokens)
    {
        int s = _segmentCount++;
        _caches[s] = cache;
        _starts[s] = start;
        _firstRows[s] = firstRow;
        _tokens[s] = tokens;
        int tiles = (tokens + _tokensPerItem - 1) / _tokensPerItem;
        _firstItem[s + 1] = _firstItem[s] + tiles * (_heads / _groupSize) * _headSlices;
    }

    private void Dispatch(WorkerPool pool)
    {
        pool.Run(this, _firstItem[_segmentCount]);
        Array.Clear(_caches, 0, _segmentCount);
    }

    public void Execute(int begin, int end)
    {
        for (int item = begin; item < end; item++) RunItem(item);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private void RunItem(int item)
    {
        int segment = 0;
        while (_firstItem[segment + 1] <= item) segment++;
        item -= _firstItem[segment];
        int kvHeads = _heads / _groupSize;
        int slice = item % _headSlices;
        int kvHead = item / _headSlices % kvHeads;
        int tokenTile = item / _headSlices / kvHeads;
        int firstHead = kvHead * _groupSize + slice * _headsPerItem;
        int heads = Math.Min(_headsPerItem, _groupSize - slice * _headsPerItem);
        int firstToken = tokenTile * _tokensPerItem; // within the segment
        int tokens = Math.Min(_tokensPerItem, _tokens[segment] - firstToken);
        int startPosition = _starts[segment];
        long firstRow = _firstRows[segment];
        _prepareHead?.Invoke((int)firstRow + firstToken, kvHead);
        int rows = heads * tokens;
        int hd = _headDim;

        // Row r is query head firstHead + r % heads of token firstToken + r / heads.
        float** query = stackalloc float*[MaxRows];
        float** output = stackalloc float*[MaxRows];
        int* length = stackalloc int[MaxRows];
        int* first = stackalloc int[MaxRows];
        float* maximum = stackalloc float[MaxRows];
        float* total = stackalloc float[MaxRows];
        float* scores = stackalloc float[MaxRows * KeyBlock]; // (rows, KeyBlock), then the block's weights
        var cache = _caches[segment]!;
        bool half = cache.Type == KvCacheType.Float16;
        bool int8 = cache.Type == KvCacheType.Int8;
        // FP16 and INT8 storage: the block's keys (hd, KeyBlock) then values (KeyBlock, hd) of this head, converted to FP32.
        float* converted = stackalloc float[half || int8 ? 2 * hd * KeyBlock : 1];
        for (int r = 0; r < rows; r++)
        {
            int t = firstToken + r / heads, h = firstHead + r % heads;
            query[r] = _qkv + (firstRow + t) * _qkvStride + h * hd;
            output[r] = _output + (firstRow + t) * (_heads * hd) + h * hd;
            length[r] = startPosition + t + 1;
            first[r] = Math.Max(0, length[r] - _window);
            maximum[r] = float.NegativeInfinity;
            total[r] = 0;
            new Span<float>(output[r], hd).Clear();
        }
        int positions = startPosition + firstToken + tokens;

        // The first row (the earliest token) has the earliest window.
        for (int block = first[0] / KeyBlock * KeyBlock; block < positions; block += KeyBlock)
        {
            int width = Math.Min(KeyBlock, positions - block);
            int index = block / KeyBlock;
            float* keys, values;
            int valueStride;
            if (half)
            {
                keys = converted;
                values = converted + hd * KeyBlock;
                valueStride = hd;
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)cache.Keys(_layer, index) + kvHead * hd * KeyBlock, hd * KeyBlock), new Span<float>(keys, hd * KeyBlock));
                Half* source = (Half*)cache.Values(_layer, index) + kvHead * hd;
                for (int s = 0; s < width; s++)
                    TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source + (long)s * _kvDim, hd), new Span<float>(values + s * hd, hd));
            }
            else if (int8)
            {
                keys = converted;
                values = converted + hd * KeyBlock;
                valueStride = hd;
                Int8KvBlock.DequantizeKeys((sbyte*)cache.Keys(_layer, index) + kvHead * hd * KeyBlock, cache.KeyScales(_layer, index) + kvHead * KeyBlock, hd, keys);
                Int8KvBlock.DequantizeValues((sbyte*)cache.Values(_layer, index) + kvHead * hd, _kvDim, cache.ValueScales(_layer, index) + kvHead * KeyBlock, width, hd, values);
            }
            else
            {
                keys = (float*)cache.Keys(_layer, index) + kvHead * hd * KeyBlock;
                values = (float*)cache.Values(_layer, index) + kvHead * hd;
                valueStride = _kvDim;
            }
            Scores(query, rows, keys, scores, width);
            // Per row: the running maximum, the rescale of what was accumulated, and this block's weights (0 outside
            // the row's window and past its causal length, so every row can share one loop over the block's values).
            for (int r = 0; r < rows; r++)
            {
                var row = new Span<float>(scores + r * KeyBlock, width);
                int from = Math.Clamp(first[r] - block, 0, width);
                int to = Math.Clamp(length[r] - block, 0, width);
                if (to <= from)
                {
                    row.Clear();
                    continue;
                }
                var valid = row.Slice(from, to - from);
                float blockMax = TensorPrimitives.Max(valid);
                float newMax = MathF.Max(maximum[r], blockMax);
                float rescale = MathF.Exp(maximum[r] - newMax); // 0 for the first block (maximum is -infinity)
                TensorPrimitives.Subtract(valid, newMax, valid);
                TensorPrimitives.Exp(valid, valid);
                row.Slice(0, from).Clear();
                row.Slice(to).Clear();
                total[r] = total[r] * rescale + TensorPrimitives.Sum(valid);
                maximum[r] = newMax;
                if (rescale != 1f) TensorPrimitives.Multiply(new ReadOnlySpan<float>(output[r], hd), rescale, new Span<float>(output[r], hd));
            }
            WeightedValues(output, rows, scores, values, valueStride, width);
        }
        for (int r = 0; r < rows; r++) TensorPrimitives.Divide(new ReadOnlySpan<float>(output[r], hd), total[r], new Span<float>(output[r], hd));
    }

    /// <summary>
    /// scores[r, s] = q_r . k[s] * scale for s below <paramref name="width"/> (and whatever beyond, up to the block), keys
    /// (hd, KeyBlock) transposed.
    /// </summary>
    private void Scores(float** query, int rows, float* keys, float* scores, int width)
    {
        if (_vector512) Scores<Float512, Vector512<float>>(query, rows, keys, scores, width);
        else if (_vector256) Scores<Float256, Vector256<float>>(query, rows, keys, scores, width);
        else if (_vector128) Scores<Float128, Vector128<float>>(query, rows, keys, scores, width);
        else
        {
            int hd = _headDim;
            for (int r = 0; r < rows; r++)
            {
                for (int s = 0; s < width; s++)
                {
                    float dot = 0;
                    for (int d = 0; d < hd; d++) dot += query[r][d] * keys[d * (long)KeyBlock + s];
                    scores[r * KeyBlock + s] = dot * _scale;
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Scores"/> with vectors of <typeparamref name="L"/>'s width: register tile 4 rows x 2 vectors of positions
    /// (8 accumulators), each key vector loaded once for the four rows, the key block staying in L1 across row tiles;
    /// positions are read up to a multiple of two vectors, within the block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Scores<L, TV>(float** query, int rows, float* keys, float* scores, int width) where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        int hd = _headDim, n = L.Count;
        const long stride = KeyBlock;
        var scale = L.Broadcast(_scale);
        int tiled = rows / 4 * 4;
        for (int s = 0; s < width && tiled > 0; s += 2 * n)
        {
            for (int r = 0; r < tiled; r += 4)
            {
                float* q0 = query[r], q1 = query[r + 1], q2 = query[r + 2], q3 = query[r + 3];
                TV a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
                for (int d = 0; d < hd; d++)
                {
                    float* k = keys + d * stride + s;
                    var k0 = L.Load(k);
                    var k1 = L.Load(k + n);
                    var b0 = L.Broadcast(q0[d]);
                    a00 = L.MultiplyAdd(b0, k0, a00);
                    a01 = L.MultiplyAdd(b0, k1, a01);
                    var b1 = L.Broadcast(q1[d]);
                    a10 = L.MultiplyAdd(b1, k0, a10);
                    a11 = L.MultiplyAdd(b1, k1, a11);
                    var b2 = L.Broadcast(q2[d]);
                    a20 = L.MultiplyAdd(b2, k0, a20);
                    a21 = L.MultiplyAdd(b2, k1, a21);
                    var b3 = L.Broadcast(q3[d]);
                    a30 = L.MultiplyAdd(b3, k0, a30);
                    a31 = L.MultiplyAdd(b3, k1, a31);
                }
                float* o = scores + r * KeyBlock + s;
                L.Store(L.Multiply(a00, scale), o);
                L.Store(L.Multiply(a01, scale), o + n);
                L.Store(L.Multiply(a10, scale), o + KeyBlock);
                L.Store(L.Multiply(a11, scale), o + KeyBlock + n);
                L.Store(L.Multiply(a20, scale), o + 2 * KeyBlock);
                L.Store(L.Multiply(a21, scale), o + 2 * KeyBlock + n);
                L.Store(L.Multiply(a30, scale), o + 3 * KeyBlock);
                L.Store(L.Multiply(a31, scale), o + 3 * KeyBlock + n);
            }
        }
        for (int r = tiled; r < rows; r++) ScoresOneRow<L, TV>(query[r], keys, scores + r * KeyBlock, width);
    }

    /// <summary>
    /// <see cref="Scores"/> for one query row (the rows a 4-row tile leaves; every row of multi-head attention's decode,
    /// where a key/value head serves one query head). One row has no other rows to share a key load with, so what bounds
    /// it is the chain of dependent multiply-adds: here each accumulator takes every second dimension (two chains per
    /// vector of positions) and all the block's positions are walked in one pass (up to four vectors), eight chains
    /// where the tile's tail had two. Measured: see <see cref="WeightedValuesOneRow{L, TV}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScoresOneRow<L, TV>(float* q, float* keys, float* scores, int width) where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        int hd = _headDim, n = L.Count;
        const long stride = KeyBlock;
        var scale = L.Broadcast(_scale);
        // Vectors of positions to compute: the block is read no further than its last position's vector.
        int vectors = Math.Min((width + n - 1) / n, KeyBlock / n);
        for (int s = 0; s < vectors * n; s += 4 * n)
        {
            int count = Math.Min(4, vectors - s / n);
            TV a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            // hd is even on the vector paths (a multiple of 8).
            for (int d = 0; d < hd; d += 2)
            {
                float* k = keys + d * stride + s;
                var even = L.Broadcast(q[d]);
                var odd = L.Broadcast(q[d + 1]);
                a0 = L.MultiplyAdd(even, L.Load(k), a0);
                b0 = L.MultiplyAdd(odd, L.Load(k + stride), b0);
                if (count > 1)
                {
                    a1 = L.MultiplyAdd(even, L.Load(k + n), a1);
                    b1 = L.MultiplyAdd(odd, L.Load(k + stride + n), b1);
                }
                if (count > 2)
                {
                    a2 = L.MultiplyAdd(even, L.Load(k + 2 * n), a2);
                    b2 = L.MultiplyAdd(odd, L.Load(k + stride + 2 * n), b2);
                }
                if (count > 3)
                {
                    a3 = L.MultiplyAdd(even, L.Load(k + 3 * n), a3);
                    b3 = L.MultiplyAdd(odd, L.Load(k + stride + 3 * n), b3);
                }
            }
            float* o = scores + s;
            L.Store(L.Multiply(L.Add(a0, b0), scale), o);
            if (count > 1) L.Store(L.Multiply(L.Add(a1, b1), scale), o + n);
            if (count > 2) L.Store(L.Multiply(L.Add(a2, b2), scale), o + 2 * n);
            if (count > 3) L.Store(L.Multiply(L.Add(a3, b3), scale), o + 3 * n);
        }
    }

    /// <summary>output_r += sum over the block's positions s of weight[r, s] * v[s], v[s] at values + s * valueStride.</summary>
    private void WeightedValues(float** output, int rows, float* weights, float* values, int valueStride, int width)
    {
        if (_vector512) WeightedValues<Float512, Vector512<float>>(output, rows, weights, values, valueStride, width);
        else if (_vector256) WeightedValues<Float256, Vector256<float>>(output, rows, weights, values, valueStride, width);
        else if (_vector128) WeightedValues<Float128, Vector128<float>>(output, rows, weights, values, valueStride, width);
        else
        {
            int hd = _headDim;
            for (int r = 0; r < rows; r++)
            {
                for (int s = 0; s < width; s++)
                {
                    float p = weights[r * KeyBlock + s];
                    float* v = values + (long)s * valueStride;
                    for (int d = 0; d < hd; d++) output[r][d] += p * v[d];
                }
            }
        }
    }

    /// <summary>
    /// <see cref="WeightedValues"/> with vectors of <typeparamref name="L"/>'s width: register tile 4 rows x two vectors of
    /// dimensions (8 accumulators, so eight chains of multiply-adds, where 4 x 1 had four), each value vector loaded once
    /// for the four rows; a head of an odd number of vectors takes its last one 4 x 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightedValues<L, TV>(float** output, int rows, float* weights, float* values, int valueStride, int width)
        where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        int hd = _headDim, n = L.Count;
        long kvDim = valueStride;
        int tiled = rows / 4 * 4;
        int d = 0;
        for (; d + 2 * n <= hd && tiled > 0; d += 2 * n)
        {
            for (int r = 0; r < tiled; r += 4)
            {
                float* o0 = output[r] + d, o1 = output[r + 1] + d, o2 = output[r + 2] + d, o3 = output[r + 3] + d;
                TV a00 = L.Load(o0), a01 = L.Load(o0 + n), a10 = L.Load(o1), a11 = L.Load(o1 + n);
                TV a20 = L.Load(o2), a21 = L.Load(o2 + n), a30 = L.Load(o3), a31 = L.Load(o3 + n);
                float* w = weights + r * KeyBlock;
                for (int s = 0; s < width; s++)
                {
                    float* v = values + s * kvDim + d;
                    var v0 = L.Load(v);
                    var v1 = L.Load(v + n);
                    var p0 = L.Broadcast(w[s]);
                    a00 = L.MultiplyAdd(p0, v0, a00);
                    a01 = L.MultiplyAdd(p0, v1, a01);
                    var p1 = L.Broadcast(w[KeyBlock + s]);
                    a10 = L.MultiplyAdd(p1, v0, a10);
                    a11 = L.MultiplyAdd(p1, v1, a11);
                    var p2 = L.Broadcast(w[2 * KeyBlock + s]);
                    a20 = L.MultiplyAdd(p2, v0, a20);
                    a21 = L.MultiplyAdd(p2, v1, a21);
                    var p3 = L.Broadcast(w[3 * KeyBlock + s]);
                    a30 = L.MultiplyAdd(p3, v0, a30);
                    a31 = L.MultiplyAdd(p3, v1, a31);
                }
                L.Store(a00, o0);
                L.Store(a01, o0 + n);
                L.Store(a10, o1);
                L.Store(a11, o1 + n);
                L.Store(a20, o2);
                L.Store(a21, o2 + n);
                L.Store(a30, o3);
                L.Store(a31, o3 + n);
            }
        }
        // A head of an odd number of vectors: its last one alone.
        for (; d < hd && tiled > 0; d += n)
        {
            for (int r = 0; r < tiled; r += 4)
            {
                var a0 = L.Load(output[r] + d);
                var a1 = L.Load(output[r + 1] + d);
                var a2 = L.Load(output[r + 2] + d);
                var a3 = L.Load(output[r + 3] + d);
                float* w = weights + r * KeyBlock;
                for (int s = 0; s < width; s++)
                {
                    var v = L.Load(values + s * kvDim + d);
                    a0 = L.MultiplyAdd(L.Broadcast(w[s]), v, a0);
                    a1 = L.MultiplyAdd(L.Broadcast(w[KeyBlock + s]), v, a1);
                    a2 = L.MultiplyAdd(L.Broadcast(w[2 * KeyBlock + s]), v, a2);
                    a3 = L.MultiplyAdd(L.Broadcast(w[3 * KeyBlock + s]), v, a3);
                }
                L.Store(a0, output[r] + d);
                L.Store(a1, output[r + 1] + d);
                L.Store(a2, output[r + 2] + d);
                L.Store(a3, output[r + 3] + d);
            }
        }
        for (int r = tiled; r < rows; r++) WeightedValuesOneRow<L, TV>(output[r], weights + r * KeyBlock, values, valueStride, width);
    }

    /// <summary>
    /// <see cref="WeightedValues"/> for one row: up to eight vectors of dimensions (a whole head of 128 at 512 bits) in
    /// registers across the block's positions, so each position's values are read once, in order, and eight chains of
    /// multiply-adds run side by side, where the tile's tail walked the positions once per vector with one chain.
    /// With <see cref="ScoresOneRow{L, TV}"/>, bench `kv-attention 2 9` on an AMD Zen 5 guest (2 threads, AVX-512; a
    /// Llama-2-7B layer, 32 key/value heads of 128, FP32), two alternated runs each: context 512 1286-1406 -> 418-507
    /// microseconds, 2048 3633-3890 -> 1599-1853, 4096 8059-8110 -> 3783-3943.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightedValuesOneRow<L, TV>(float* output, float* w, float* values, long valueStride, int width)
        where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        int hd = _headDim, n = L.Count;
        for (int d = 0; d < hd; d += 8 * n)
        {
            int count = Math.Min(8, (hd - d) / n);
            float* o = output + d;
            TV a0 = L.Load(o), a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            if (count > 1) a1 = L.Load(o + n);
            if (count > 2) a2 = L.Load(o + 2 * n);
            if (count > 3) a3 = L.Load(o + 3 * n);
            if (count > 4) a4 = L.Load(o + 4 * n);
            if (count > 5) a5 = L.Load(o + 5 * n);
            if (count > 6) a6 = L.Load(o + 6 * n);
            if (count > 7) a7 = L.Load(o + 7 * n);
            for (int s = 0; s < width; s++)
            {
                var p = L.Broadcast(w[s]);
                float* v = values + s * valueStride + d;
                a0 = L.MultiplyAdd(p, L.Load(v), a0);
                if (count > 1) a1 = L.MultiplyAdd(p, L.Load(v + n), a1);
                if (count > 2) a2 = L.MultiplyAdd(p, L.Load(v + 2 * n), a2);
                if (count > 3) a3 = L.MultiplyAdd(p, L.Load(v + 3 * n), a3);
                if (count > 4) a4 = L.MultiplyAdd(p, L.Load(v + 4 * n), a4);
                if (count > 5) a5 = L.MultiplyAdd(p, L.Load(v + 5 * n), a5);
                if (count > 6) a6 = L.MultiplyAdd(p, L.Load(v + 6 * n), a6);
                if (count > 7) a7 = L.MultiplyAdd(p, L.Load(v + 7 * n), a7);
            }
            L.Store(a0, o);
            if (count > 1) L.Store(a1, o + n);
            if (count > 2) L.Store(a2, o + 2 * n);
            if (count > 3) L.Store(a3, o + 3 * n);
            if (count > 4) L.Store(a4, o + 4 * n);
            if (count > 5) L.Store(a5, o + 5 * n);
            if (count > 6) L.Store(a6, o + 6 * n);
            if (count > 7) L.Store(a7, o + 7 * n);
        }
    }
}
