using System.Buffers;
using System.Numerics.Tensors;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Sums what calibrated recipes need from one matrix's inputs, batch by batch as the forward pass produces them, so
/// that the inputs themselves are never kept: XᵀX (columns x columns, in double) and the sum of |x| per column.
/// </summary>
public sealed unsafe class HessianAccumulator : IRangeJob
{
    private readonly double[] _xtx;     // (columns, columns); only the lower triangle is summed
    private readonly double[] _absSum;  // (columns)
    private float* _batch;              // (tokens, columns) the batch being added, during Add only
    private int _batchTokens;

    public HessianAccumulator(int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        Columns = columns;
        _xtx = new double[(long)columns * columns];
        _absSum = new double[columns];
    }

    public int Columns { get; }

    /// <summary>Rows of input added so far.</summary>
    public long Tokens { get; private set; }

    /// <summary>Adds <paramref name="tokens"/> rows of input ((tokens, columns) row-major), on every thread of <paramref name="pool"/>.</summary>
    public void Add(ReadOnlySpan<float> input, int tokens, WorkerPool pool)
    {
        if (input.Length < (long)tokens * Columns) throw new ArgumentException($"{tokens} rows of {Columns} values are needed.", nameof(input));
        fixed (float* batch = input)
        {
            _batch = batch;
            _batchTokens = tokens;
            // Row i of the lower triangle costs i + 1; item k takes rows k and columns-1-k, so every item costs the same.
            pool.Run(this, (Columns + 1) / 2);
            _batch = null;
        }
        for (int t = 0; t < tokens; t++)
        {
            var row = input.Slice(t * Columns, Columns);
            for (int c = 0; c < Columns; c++) _absSum[c] += MathF.Abs(row[c]);
        }
        Tokens += tokens;
    }

    void IRangeJob.Execute(int begin, int end)
    {
        float[] rented = ArrayPool<float>.Shared.Rent(Columns);
        try
        {
            for (int k = begin; k < end; k++)
            {
                AddRow(k, rented);
                if (Columns - 1 - k != k) AddRow(Columns - 1 - k, rented);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Row i of the lower triangle: sum over the batch of x_i * x[0..i], in float for the batch (at most a prefill chunk), then into double.</summary>
    private void AddRow(int i, float[] scratch)
    {
        var sum = scratch.AsSpan(0, i + 1);
        sum.Clear();
        for (int t = 0; t < _batchTokens; t++)
        {
            float* x = _batch + (long)t * Columns;
            float xi = x[i];
            if (xi == 0) continue;
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x, i + 1), xi, sum, sum);
        }
        var target = _xtx.AsSpan((int)((long)i * Columns), i + 1);
        for (int j = 0; j <= i; j++) target[j] += sum[j];
    }

    /// <summary>
    /// H = 2 XᵀX / N, the Hessian of the squared output error (GPTQ's scaling; any positive factor gives the same
    /// quantization, since dampening is relative to H's diagonal), as a full symmetric matrix (columns, columns).
    /// </summary>
    public double[] Hessian()
    {
        int n = Columns;
        var h = new double[(long)n * n];
        double factor = Tokens > 0 ? 2.0 / Tokens : 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double v = _xtx[(long)i * n + j] * factor;
                h[(long)i * n + j] = v;
                h[(long)j * n + i] = v;
            }
        }
        return h;
    }

    /// <summary>Mean |x| per column over the inputs added: AWQ's measure of how much each input channel matters.</summary>
    public float[] MeanAbsolute()
    {
        var mean = new float[Columns];
        for (int c = 0; c < Columns; c++) mean[c] = Tokens > 0 ? (float)(_absSum[c] / Tokens) : 0;
        return mean;
    }
}
