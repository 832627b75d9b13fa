using LlmCpu.Kernels.Threading;

namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// A weight matrix of <see cref="Rows"/> output features by <see cref="Columns"/> input features, in whatever
/// storage format a subclass keeps it, multiplied by row-major FP32 activations:
/// output (tokens, Rows) = input (tokens, Columns) x weights^T.
/// </summary>
public abstract unsafe class WeightMatrix : IDisposable
{
    protected WeightMatrix(int rows, int columns)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Output features (N).</summary>
    public int Rows { get; }

    /// <summary>Input features (K).</summary>
    public int Columns { get; }

    /// <summary>Storage format, for example "F32", "F16", "Q4 g128 sym".</summary>
    public abstract string Format { get; }

    /// <summary>Bytes of weights and scales a multiplication reads.</summary>
    public abstract long ByteSize { get; }

    /// <summary>Bytes this matrix allocated itself; 0 when it reads memory it was given (a mapped file).</summary>
    public virtual long OwnedBytes => ByteSize;

    /// <summary>How many output rows a worker's range is a multiple of (the tile height).</summary>
    public virtual int RowGrain => 1;

    /// <summary>
    /// Prepares the activations once per multiplication, before the rows are split across workers (for example,
    /// quantizes them to INT8): <see cref="PrepareLayout"/> then <see cref="PrepareTokens"/> for every token.
    /// </summary>
    public void Prepare(float* input, int tokens, ActivationScratch scratch)
    {
        PrepareLayout(tokens, scratch);
        PrepareTokens(input, 0, tokens, scratch);
    }

    /// <summary>Sizes <paramref name="scratch"/> for <paramref name="tokens"/> tokens, on the calling thread (it may allocate).</summary>
    public virtual void PrepareLayout(int tokens, ActivationScratch scratch) { }

    /// <summary>
    /// Prepares tokens [<paramref name="first"/>, <paramref name="last"/>) into the layout <see cref="PrepareLayout"/> made;
    /// disjoint ranges may run on several threads at once. Nothing to do for unquantized formats.
    /// </summary>
    public virtual void PrepareTokens(float* input, int first, int last, ActivationScratch scratch) { }

    /// <summary>
    /// Computes output rows [rowBegin, rowEnd) for every token. <paramref name="input"/> is (tokens, Columns); output row
    /// n of token t goes to <paramref name="output"/>[t * <paramref name="outputStride"/> + n] (the stride is Rows for a
    /// matrix of its own, more when it is a part of a <see cref="StackedMatrix"/>). <paramref name="scratch"/> holds what
    /// <see cref="Prepare"/> made of the input.
    /// </summary>
    public abstract void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch);

    /// <summary>
    /// What <see cref="Prepare"/> makes of the activations, as a key: matrices whose keys are equal read the same prepared
    /// activations, so they can be stacked into one multiplication (<see cref="StackedMatrix"/>).
    /// </summary>
    public virtual string ActivationLayout => "float32";

    /// <summary>Reconstructs row <paramref name="row"/> as FP32 (for embedding look-up and tests).</summary>
    public abstract void DequantizeRow(int row, Span<float> destination);

    public virtual void Dispose() => GC.SuppressFinalize(this);
}
