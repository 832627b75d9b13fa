using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.Ops;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Causal grouped-query attention for a chunk of tokens whose keys and values are already in the cache,
/// split across workers by query head. Query head h reads key/value head h / (heads / kvHeads).
/// </summary>
internal sealed unsafe class AttentionJob : IRangeJob
{
    private readonly int _heads;
    private readonly int _headDim;
    private readonly int _kvDim;
    private readonly int _groupSize;
    private readonly int _capacity;
    private readonly float _scale;
    private readonly float[] _scores; // (heads, capacity): one row per head, so workers never share one
    private readonly bool _vector256;

    // Arguments of the call in flight.
    private float* _qkv;     // (tokens, qkvStride), queries at column 0
    private int _qkvStride;
    private float* _keys;    // (capacity, kvDim)
    private float* _values;  // (capacity, kvDim)
    private float* _output;  // (tokens, dim)
    private int _tokens;
    private int _startPosition;

    /// <param name="allowVector256">
    /// Use 256-bit vectors where the head dimension allows (a multiple of 8). Off, every head takes the portable path
    /// that odd head sizes and processors without 256-bit vectors run; tests turn it off to check that path here.
    /// </param>
    public AttentionJob(int heads, int kvHeads, int headDim, int capacity, bool allowVector256 = true)
    {
        _vector256 = allowVector256 && Vector256.IsHardwareAccelerated && headDim % 8 == 0;
        _heads = heads;
        _headDim = headDim;
        _kvDim = kvHeads * headDim;
        _groupSize = heads / kvHeads;
        _capacity = capacity;
        _scale = 1f / MathF.Sqrt(headDim);
        _scores = new float[(long)heads * capacity];
    }

    public void Run(WorkerPool pool, float* qkv, int qkvStride, float* keys, float* values, float* output, int tokens, int startPosition)
    {
        _qkv = qkv;
        _qkvStride = qkvStride;
        _keys = keys;
        _values = values;
        _output = output;
        _tokens = tokens;
        _startPosition = startPosition;
        pool.Run(this, _heads);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Execute(int begin, int end)
    {
        int dim = _heads * _headDim;
        for (int h = begin; h < end; h++)
        {
            int kvOffset = h / _groupSize * _headDim;
            var scores = new Span<float>(_scores, h * _capacity, _capacity);
            for (int t = 0; t < _tokens; t++)
            {
                int length = _startPosition + t + 1; // causal: positions 0..p
                var query = new ReadOnlySpan<float>(_qkv + (long)t * _qkvStride + h * _headDim, _headDim);

                float* q = _qkv + (long)t * _qkvStride + h * _headDim;
                float* k = _keys + kvOffset;
                float* v = _values + kvOffset;
                float* output = _output + (long)t * dim + h * _headDim;
                if (_vector256)
                {
                    Scores256(q, k, scores, length);
                }
                else
                {
                    for (int s = 0; s < length; s++)
                        scores[s] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(k + (long)s * _kvDim, _headDim)) * _scale;
                }
                var weights = scores.Slice(0, length);
                Softmax.Apply(weights, weights);
                if (_vector256)
                {
                    WeightedSum256(weights, v, output);
                }
                else
                {
                    var outputSpan = new Span<float>(output, _headDim);
                    outputSpan.Clear();
                    for (int s = 0; s < length; s++)
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(v + (long)s * _kvDim, _headDim), weights[s], outputSpan, outputSpan);
                }
            }
        }
    }

    /// <summary>scores[s] = q . k[s] * scale for every cached position, 8 lanes at a time (a call per position costs more than the work).</summary>
    private void Scores256(float* q, float* k, Span<float> scores, int length)
    {
        for (int s = 0; s < length; s++)
        {
            float* key = k + (long)s * _kvDim;
            var acc = Vector256<float>.Zero;
            for (int i = 0; i < _headDim; i += 8) acc += Vector256.Load(q + i) * Vector256.Load(key + i);
            scores[s] = Vector256.Sum(acc) * _scale;
        }
    }

    /// <summary>output = sum over positions of weight[s] * v[s], accumulated 8 lanes at a time in place.</summary>
    private void WeightedSum256(ReadOnlySpan<float> weights, float* v, float* output)
    {
        for (int i = 0; i < _headDim; i += 8)
        {
            var acc = Vector256<float>.Zero;
            for (int s = 0; s < weights.Length; s++) acc += Vector256.Load(v + (long)s * _kvDim + i) * Vector256.Create(weights[s]);
            acc.Store(output + i);
        }
    }
}
