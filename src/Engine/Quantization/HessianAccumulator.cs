using System.Runtime.Intrinsics;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Sums what calibrated recipes need from one matrix's inputs, batch by batch as the forward pass produces them, so
/// that the inputs themselves are never kept: XᵀX (columns x columns, in double) and the sum of |x| per column.
/// </summary>
/// <remarks>
/// Each element of XᵀX's lower triangle is summed over a batch's tokens in float (products rounded, then added in token
/// order, <see cref="SymmetricRankUpdate"/>) and the batch's sum is then added to the double total, so the float rounding
/// stays that of one batch (at most <see cref="SlabTokens"/> tokens; a forward-pass chunk is 64) however many
/// tokens are summed. The result depends only on the batches given, not on the machine or the number of threads.
/// </remarks>
public sealed unsafe class HessianAccumulator : IRangeJob
{
    /// <summary>Tokens summed in float before they go into the double sums; a longer batch is added in slabs of this many.</summary>
    public const int SlabTokens = 256;

    private double[]? _xtx;             // (columns, columns); only the lower triangle is summed; null once taken
    private readonly double[] _absSum;  // (columns)
    private float[] _packed = [];       // the slab being added, in SymmetricRankUpdate's panels
    private float* _slab;               // _packed, pinned during Add only
    private int _slabTokens;

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
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (_xtx is null) throw Taken();
        if (input.Length < (long)tokens * Columns) throw new ArgumentException($"{tokens} rows of {Columns} values are needed.", nameof(input));
        long needed = SymmetricRankUpdate.PackedLength(Math.Min(tokens, SlabTokens), Columns);
        if (_packed.Length < needed) _packed = new float[needed];
        fixed (float* batch = input)
        fixed (float* packed = _packed)
        {
            for (int t0 = 0; t0 < tokens; t0 += SlabTokens)
            {
                _slabTokens = Math.Min(SlabTokens, tokens - t0);
                SymmetricRankUpdate.Pack(batch + (long)t0 * Columns, _slabTokens, Columns, packed);
                _slab = packed;
                // Row block b of the triangle costs about b + 1 tiles; item k takes blocks k and (blocks - 1 - k), so every item costs about the same.
                pool.Run(this, (SymmetricRankUpdate.RowBlocks(Columns) + 1) / 2);
                _slab = null;
            }
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
        int blocks = SymmetricRankUpdate.RowBlocks(Columns);
        int width = Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1;
        fixed (double* sums = _xtx!)
        {
            for (int k = begin; k < end; k++)
            {
                SymmetricRankUpdate.AddRowBlock(_slab, _slabTokens, Columns, k, sums, width);
                if (blocks - 1 - k != k) SymmetricRankUpdate.AddRowBlock(_slab, _slabTokens, Columns, blocks - 1 - k, sums, width);
            }
        }
    }

    /// <summary>
    /// H = 2 XᵀX / N, the Hessian of the squared output error (GPTQ's scaling; any positive factor gives the same
    /// quantization, since dampening is relative to H's diagonal), as a full symmetric matrix (columns, columns).
    /// </summary>
    public double[] Hessian()
    {
        var sums = _xtx ?? throw Taken();
        var h = new double[sums.Length];
        Scale(sums, h);
        return h;
    }

    /// <summary>
    /// <see cref="Hessian"/> made in the sums' own array, which the caller then owns: for a recipe that reads each
    /// matrix's Hessian once and consumes it (GPTQ), so a 5,632-wide input's 254 MB of sums are not copied. The
    /// accumulator takes no more input after this, and <see cref="Hessian"/> is gone with it; <see cref="MeanAbsolute"/> stays.
    /// </summary>
    public double[] TakeHessian()
    {
        var sums = _xtx ?? throw Taken();
        _xtx = null;
        Scale(sums, sums);
        return sums;
    }

    /// <summary>h = the full symmetric 2 XᵀX / N from the summed lower triangle; <paramref name="h"/> may be <paramref name="sums"/>.</summary>
    private void Scale(double[] sums, double[] h)
    {
        int n = Columns;
        double factor = Tokens > 0 ? 2.0 / Tokens : 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double v = sums[(long)i * n + j] * factor;
                h[(long)i * n + j] = v;
                h[(long)j * n + i] = v;
            }
        }
    }

    private static InvalidOperationException Taken() => new("The Hessian was taken from this accumulator (TakeHessian); it sums no more.");

    /// <summary>Mean |x| per column over the inputs added: AWQ's measure of how much each input channel matters.</summary>
    public float[] MeanAbsolute()
    {
        var mean = new float[Columns];
        for (int c = 0; c < Columns; c++) mean[c] = Tokens > 0 ? (float)(_absSum[c] / Tokens) : 0;
        return mean;
    }
}
