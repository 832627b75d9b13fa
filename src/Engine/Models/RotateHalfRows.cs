namespace LlmCpu.Engine.Models;

/// <summary>
/// Presents the Q or K projection of a GGUF file in the row order the engine's rotary embedding expects.
/// <para>
/// The engine rotates "half with half" (Hugging Face Llama): in a head of d dimensions, dimension i pairs with
/// i + d/2. llama.cpp rotates adjacent pairs (2i, 2i+1) instead, so its converter reorders the rows of Q and K within
/// each head: the row at (head h, half s, index i), that is h*d + s*d/2 + i, moves to h*d + 2i + s. This view undoes
/// it: its row h*d + s*d/2 + i reads the file's row h*d + 2i + s. The reordering moves whole rows, so it applies the
/// same way to rows read as FP32 and to rows of INT4 blocks copied as they are.
/// </para>
/// </summary>
internal sealed class RotateHalfRows : IMatrixSource
{
    private readonly IMatrixSource _interleaved;
    private readonly int _headDim;

    public RotateHalfRows(IMatrixSource interleaved, int headDim)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The head dimension must be even.");
        if (interleaved.Rows % headDim != 0) throw new ArgumentException($"{interleaved.Rows} rows are not a whole number of heads of {headDim}.", nameof(interleaved));
        _interleaved = interleaved;
        _headDim = headDim;
    }

    public string Name => _interleaved.Name;

    public int Rows => _interleaved.Rows;

    public int Columns => _interleaved.Columns;

    public ModelPrecision StoredPrecision => _interleaved.StoredPrecision;

    /// <summary>The row of the interleaved (llama.cpp) order that holds row <paramref name="row"/> of the rotate-half order.</summary>
    public static int InterleavedRow(int row, int headDim)
    {
        int half = headDim / 2;
        int head = row / headDim, within = row % headDim;
        return head * headDim + 2 * (within % half) + within / half;
    }

    public void ReadRow(int row, Span<float> destination) => _interleaved.ReadRow(InterleavedRow(row, _headDim), destination);

    public Formats.Gguf.GgmlType? BlockType => _interleaved.BlockType;

    public ReadOnlySpan<byte> ReadBlockRow(int row) => _interleaved.ReadBlockRow(InterleavedRow(row, _headDim));
}
