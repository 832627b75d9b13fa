using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
/// Nothing is allocated; the scratch of an item lives on its worker's stack.
/// </summary>
internal sealed unsafe class AttentionJob : IRangeJob
{
    /// <summary>Query rows one work item handles at most: 32 rows x 64 positions of scores is 8 KB of stack.</summary>
    private const int MaxRows = 32;

    private const int KeyBlock = KvCache.KeyBlock;

    private readonly int _heads;
    private readonly int _headDim;
    private readonly int _kvDim;
    private readonly int _groupSize;
    private readonly int _headsPerItem;
    private readonly int _headSlices;
    private readonly float _scale;
    private readonly bool _vector256;
    private readonly bool _vector512;
    private readonly int _window;

    // Arguments of the call in flight.
    private float* _qkv;     // (tokens, qkvStride), queries at column 0
    private int _qkvStride;
    private KvCache? _cache; // the sequence's keys and values, per block: (kvDim, KeyBlock) transposed, then (KeyBlock, kvDim)
    private int _layer;
    private float* _output;  // (tokens, dim)
    private int _tokens;
    private int _startPosition;
    private int _tokensPerItem;
    private int _tokenTiles;

    /// <param name="window">Positions a token attends to, itself included; null for all before it.</param>
    /// <param name="allowVector256">
    /// Use 256-bit vectors where the head dimension allows (a multiple of 8). Off, every head takes the portable path
    /// that odd head sizes and processors without 256-bit vectors run; tests turn it off to check that path here.
    /// </param>
    /// <param name="allowVector512">
    /// Use 512-bit vectors where the processor has them and the head dimension allows (a multiple of 16): twice the
    /// products an operation of the two inner loops. Off, such heads take the 256-bit path; tests turn it off to check it.
    /// </param>
    public AttentionJob(int heads, int kvHeads, int headDim, bool allowVector256 = true, int? window = null, bool allowVector512 = true)
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
    }

    /// <summary>
    /// attn (tokens, dim) = softmax(q k^T / sqrt(hd)) v over positions 0..start+t for token t, keys and values from
    /// <paramref name="layer"/> of <paramref name="cache"/>, which must hold every block those positions are in.
    /// </summary>
    public void Run(WorkerPool pool, float* qkv, int qkvStride, KvCache cache, int layer, float* output, int tokens, int startPosition)
    {
        _qkv = qkv;
        _qkvStride = qkvStride;
        _cache = cache;
        _layer = layer;
        _output = output;
        _tokens = tokens;
        _startPosition = startPosition;
        _tokensPerItem = Math.Max(1, MaxRows / _headsPerItem);
        _tokenTiles = (tokens + _tokensPerItem - 1) / _tokensPerItem;
        pool.Run(this, _tokenTiles * (_heads / _groupSize) * _headSlices);
        _cache = null;
    }

    public void Execute(int begin, int end)
    {
        for (int item = begin; item < end; item++) RunItem(item);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    private void RunItem(int item)
    {
        int kvHeads = _heads / _groupSize;
        int slice = item % _headSlices;
        int kvHead = item / _headSlices % kvHeads;
        int tokenTile = item / _headSlices / kvHeads;
        int firstHead = kvHead * _groupSize + slice * _headsPerItem;
        int heads = Math.Min(_headsPerItem, _groupSize - slice * _headsPerItem);
        int firstToken = tokenTile * _tokensPerItem;
        int tokens = Math.Min(_tokensPerItem, _tokens - firstToken);
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
        var cache = _cache!;
        bool half = cache.Type == KvCacheType.Float16;
        bool int8 = cache.Type == KvCacheType.Int8;
        // FP16 and INT8 storage: the block's keys (hd, KeyBlock) then values (KeyBlock, hd) of this head, converted to FP32.
        float* converted = stackalloc float[half || int8 ? 2 * hd * KeyBlock : 1];
        for (int r = 0; r < rows; r++)
        {
            int t = firstToken + r / heads, h = firstHead + r % heads;
            query[r] = _qkv + (long)t * _qkvStride + h * hd;
            output[r] = _output + (long)t * (_heads * hd) + h * hd;
            length[r] = _startPosition + t + 1;
            first[r] = Math.Max(0, length[r] - _window);
            maximum[r] = float.NegativeInfinity;
            total[r] = 0;
            new Span<float>(output[r], hd).Clear();
        }
        int positions = _startPosition + firstToken + tokens;

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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Scores(float** query, int rows, float* keys, float* scores, int width)
    {
        int hd = _headDim;
        const long stride = KeyBlock;
        if (!_vector256)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int s = 0; s < width; s++)
                {
                    float dot = 0;
                    for (int d = 0; d < hd; d++) dot += query[r][d] * keys[d * stride + s];
                    scores[r * KeyBlock + s] = dot * _scale;
                }
            }
            return;
        }
        if (_vector512)
        {
            Scores512(query, rows, keys, scores, width);
            return;
        }
        var scale = Vector256.Create(_scale);
        // Register tile: 4 rows x 16 positions (8 accumulators); the key block stays in L1 across row tiles.
        for (int s = 0; s < width; s += 16)
        {
            int r = 0;
            for (; r + 4 <= rows; r += 4)
            {
                float* q0 = query[r], q1 = query[r + 1], q2 = query[r + 2], q3 = query[r + 3];
                Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
                for (int d = 0; d < hd; d++)
                {
                    float* k = keys + d * stride + s;
                    var k0 = Vector256.Load(k);
                    var k1 = Vector256.Load(k + 8);
                    var b0 = Vector256.Create(q0[d]);
                    a00 = MultiplyAdd(b0, k0, a00);
                    a01 = MultiplyAdd(b0, k1, a01);
                    var b1 = Vector256.Create(q1[d]);
                    a10 = MultiplyAdd(b1, k0, a10);
                    a11 = MultiplyAdd(b1, k1, a11);
                    var b2 = Vector256.Create(q2[d]);
                    a20 = MultiplyAdd(b2, k0, a20);
                    a21 = MultiplyAdd(b2, k1, a21);
                    var b3 = Vector256.Create(q3[d]);
                    a30 = MultiplyAdd(b3, k0, a30);
                    a31 = MultiplyAdd(b3, k1, a31);
                }
                float* o = scores + r * KeyBlock + s;
                (a00 * scale).Store(o);
                (a01 * scale).Store(o + 8);
                (a10 * scale).Store(o + KeyBlock);
                (a11 * scale).Store(o + KeyBlock + 8);
                (a20 * scale).Store(o + 2 * KeyBlock);
                (a21 * scale).Store(o + 2 * KeyBlock + 8);
                (a30 * scale).Store(o + 3 * KeyBlock);
                (a31 * scale).Store(o + 3 * KeyBlock + 8);
            }
            for (; r < rows; r++)
            {
                float* q = query[r];
                Vector256<float> a0 = default, a1 = default;
                for (int d = 0; d < hd; d++)
                {
                    float* k = keys + d * stride + s;
                    var b = Vector256.Create(q[d]);
                    a0 = MultiplyAdd(b, Vector256.Load(k), a0);
                    a1 = MultiplyAdd(b, Vector256.Load(k + 8), a1);
                }
                (a0 * scale).Store(scores + r * KeyBlock + s);
                (a1 * scale).Store(scores + r * KeyBlock + s + 8);
            }
        }
    }

    /// <summary>
    /// a * b + c, fused where the processor can (every processor with AVX2 has FMA3): one operation instead of two, the
    /// inner step of both products. Fused, the sums round once per step instead of twice; the portable path does not fuse,
    /// and both stay within the naive reference's tolerance.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>output_r += sum over the block's positions s of weight[r, s] * v[s], v[s] at values + s * valueStride.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightedValues(float** output, int rows, float* weights, float* values, int valueStride, int width)
    {
        int hd = _headDim, kvDim = valueStride;
        if (!_vector256)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int s = 0; s < width; s++)
                {
                    float p = weights[r * KeyBlock + s];
                    float* v = values + (long)s * kvDim;
                    for (int d = 0; d < hd; d++) output[r][d] += p * v[d];
                }
            }
            return;
        }
        if (_vector512)
        {
            WeightedValues512(output, rows, weights, values, valueStride, width);
            return;
        }
        // Register tile: 4 rows x 8 dimensions; each value vector is loaded once for the four rows.
        for (int d = 0; d < hd; d += 8)
        {
            int r = 0;
            for (; r + 4 <= rows; r += 4)
            {
                var a0 = Vector256.Load(output[r] + d);
                var a1 = Vector256.Load(output[r + 1] + d);
                var a2 = Vector256.Load(output[r + 2] + d);
                var a3 = Vector256.Load(output[r + 3] + d);
                float* w = weights + r * KeyBlock;
                for (int s = 0; s < width; s++)
                {
                    var v = Vector256.Load(values + (long)s * kvDim + d);
                    a0 = MultiplyAdd(Vector256.Create(w[s]), v, a0);
                    a1 = MultiplyAdd(Vector256.Create(w[KeyBlock + s]), v, a1);
                    a2 = MultiplyAdd(Vector256.Create(w[2 * KeyBlock + s]), v, a2);
                    a3 = MultiplyAdd(Vector256.Create(w[3 * KeyBlock + s]), v, a3);
                }
                a0.Store(output[r] + d);
                a1.Store(output[r + 1] + d);
                a2.Store(output[r + 2] + d);
                a3.Store(output[r + 3] + d);
            }
            for (; r < rows; r++)
            {
                var a = Vector256.Load(output[r] + d);
                float* w = weights + r * KeyBlock;
                for (int s = 0; s < width; s++) a = MultiplyAdd(Vector256.Create(w[s]), Vector256.Load(values + (long)s * kvDim + d), a);
                a.Store(output[r] + d);
            }
        }
    }

    /// <summary>
    /// <see cref="Scores"/> with 512-bit vectors: register tile 4 rows x 32 positions (8 accumulators), each key vector
    /// loaded once for the four rows; positions are read up to a multiple of 32, within the block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Scores512(float** query, int rows, float* keys, float* scores, int width)
    {
        int hd = _headDim;
        const long stride = KeyBlock;
        var scale = Vector512.Create(_scale);
        for (int s = 0; s < width; s += 32)
        {
            int r = 0;
            for (; r + 4 <= rows; r += 4)
            {
                float* q0 = query[r], q1 = query[r + 1], q2 = query[r + 2], q3 = query[r + 3];
                Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
                for (int d = 0; d < hd; d++)
                {
                    float* k = keys + d * stride + s;
                    var k0 = Vector512.Load(k);
                    var k1 = Vector512.Load(k + 16);
                    var b0 = Vector512.Create(q0[d]);
                    a00 = Avx512F.FusedMultiplyAdd(b0, k0, a00);
                    a01 = Avx512F.FusedMultiplyAdd(b0, k1, a01);
                    var b1 = Vector512.Create(q1[d]);
                    a10 = Avx512F.FusedMultiplyAdd(b1, k0, a10);
                    a11 = Avx512F.FusedMultiplyAdd(b1, k1, a11);
                    var b2 = Vector512.Create(q2[d]);
                    a20 = Avx512F.FusedMultiplyAdd(b2, k0, a20);
                    a21 = Avx512F.FusedMultiplyAdd(b2, k1, a21);
                    var b3 = Vector512.Create(q3[d]);
                    a30 = Avx512F.FusedMultiplyAdd(b3, k0, a30);
                    a31 = Avx512F.FusedMultiplyAdd(b3, k1, a31);
                }
                float* o = scores + r * KeyBlock + s;
                (a00 * scale).Store(o);
                (a01 * scale).Store(o + 16);
                (a10 * scale).Store(o + KeyBlock);
                (a11 * scale).Store(o + KeyBlock + 16);
                (a20 * scale).Store(o + 2 * KeyBlock);
                (a21 * scale).Store(o + 2 * KeyBlock + 16);
                (a30 * scale).Store(o + 3 * KeyBlock);
                (a31 * scale).Store(o + 3 * KeyBlock + 16);
            }
            for (; r < rows; r++)
            {
                float* q = query[r];
                Vector512<float> a0 = default, a1 = default;
                for (int d = 0; d < hd; d++)
                {
                    float* k = keys + d * stride + s;
                    var b = Vector512.Create(q[d]);
                    a0 = Avx512F.FusedMultiplyAdd(b, Vector512.Load(k), a0);
                    a1 = Avx512F.FusedMultiplyAdd(b, Vector512.Load(k + 16), a1);
                }
                (a0 * scale).Store(scores + r * KeyBlock + s);
                (a1 * scale).Store(scores + r * KeyBlock + s + 16);
            }
        }
    }

    /// <summary>
    /// <see cref="WeightedValues"/> with 512-bit vectors: register tile 4 rows x 16 dimensions, each value vector loaded
    /// once for the four rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WeightedValues512(float** output, int rows, float* weights, float* values, int valueStride, int width)
    {
        int hd = _headDim, kvDim = valueStride;
        for (int d = 0; d < hd; d += 16)
        {
            int r = 0;
            for (; r + 4 <= rows; r += 4)
            {
                var a0 = Vector512.Load(output[r] + d);
                var a1 = Vector512.Load(output[r + 1] + d);
                var a2 = Vector512.Load(output[r + 2] + d);
                var a3 = Vector512.Load(output[r + 3] + d);
                float* w = weights + r * KeyBlock;
                for (int s = 0; s < width; s++)
                {
                    var v = Vector512.Load(values + (long)s * kvDim + d);
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Create(w[s]), v, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Vector512.Create(w[KeyBlock + s]), v, a1);
                    a2 = Avx512F.FusedMultiplyAdd(Vector512.Create(w[2 * KeyBlock + s]), v, a2);
                    a3 = Avx512F.FusedMultiplyAdd(Vector512.Create(w[3 * KeyBlock + s]), v, a3);
                }
                a0.Store(output[r] + d);
                a1.Store(output[r + 1] + d);
                a2.Store(output[r + 2] + d);
                a3.Store(output[r + 3] + d);
            }
            for (; r < rows; r++)
            {
                var a = Vector512.Load(output[r] + d);
                float* w = weights + r * KeyBlock;
                for (int s = 0; s < width; s++) a = Avx512F.FusedMultiplyAdd(Vector512.Create(w[s]), Vector512.Load(values + (long)s * kvDim + d), a);
                a.Store(output[r] + d);
            }
        }
    }
}
