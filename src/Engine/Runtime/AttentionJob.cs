using System.Numerics.Tensors;
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

    // Arguments of the call in flight.
    private float* _qkv;     // (tokens, qkvStride), queries at column 0
    private int _qkvStride;
    private float* _keys;    // (capacity, kvDim)
    private float* _values;  // (capacity, kvDim)
    private float* _output;  // (tokens, dim)
    private int _tokens;
    private int _startPosition;

    public AttentionJob(int heads, int kvHeads, int headDim, int capacity)
    {
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
                for (int s = 0; s < length; s++)
                    scores[s] = TensorPrimitives.Dot(query, new ReadOnlySpan<float>(_keys + (long)s * _kvDim + kvOffset, _headDim)) * _scale;
                var weights = scores.Slice(0, length);
                TensorPrimitives.SoftMax(weights, weights);

                var output = new Span<float>(_output + (long)t * dim + h * _headDim, _headDim);
                output.Clear();
                for (int s = 0; s < length; s++)
                {
                    var value = new ReadOnlySpan<float>(_values + (long)s * _kvDim + kvOffset, _headDim);
                    TensorPrimitives.MultiplyAdd(value, weights[s], output, output);
                }
            }
        }
    }
}
