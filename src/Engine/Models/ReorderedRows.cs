namespace LlmCpu.Engine.Models;

/// <summary>
/// A matrix whose row r is row <c>sourceRow(r)</c> of another: how a loader puts a file's rows in the engine's order
/// (Q and K of a GGUF Llama back to rotate-half order, a fused QKV tensor to all queries, then keys, then values). It
/// moves whole rows, so it applies alike to rows read as FP32 and to rows of quantized blocks copied as they are.
/// </summary>
internal sealed class ReorderedRows(IMatrixSource source, Func<int, int> sourceRow) : IMatrixSource
{
    public string Name => source.Name;

    public int Rows => source.Rows;

    public int Columns => source.Columns;

    public ModelPrecision StoredPrecision => source.StoredPrecision;

    public void ReadRow(int row, Span<float> destination) => source.ReadRow(sourceRow(row), destination);

    public Formats.Gguf.GgmlType? BlockType => source.BlockType;

    public ReadOnlySpan<byte> ReadBlockRow(int row) => source.ReadBlockRow(sourceRow(row));

    /// <summary>Rows of a vector (a bias) in the same order.</summary>
    public static float[] Reorder(float[] values, Func<int, int> sourceRow)
    {
        var result = new float[values.Length];
        for (int i = 0; i < result.Length; i++) result[i] = values[sourceRow(i)];
        return result;
    }
}

/// <summary>Row orders of query, key and value projections, as functions from the engine's row to the file's.</summary>
public static class QkvRowOrder
{
    /// <summary>
    /// llama.cpp's converter reorders each head of Llama's Q and K for adjacent-pair rotation: the row at (head h,
    /// half s, index i), h*d + s*d/2 + i, moves to h*d + 2i + s. This is the file's row holding the engine's rotate-half row.
    /// </summary>
    public static int InterleavedRow(int row, int headDim)
    {
        int half = headDim / 2;
        int head = row / headDim, within = row % headDim;
        return head * headDim + 2 * (within % half) + within / half;
    }

    /// <summary>
    /// The fused row holding row <paramref name="row"/> of the stacked order (queries, keys, values) for
    /// <paramref name="layout"/>.
    /// </summary>
    public static int FusedRow(FusedQkvLayout layout, int row, int heads, int kvHeads, int headDim)
    {
        int dim = heads * headDim, kvDim = kvHeads * headDim;
        int part = row < dim ? 0 : row < dim + kvDim ? 1 : 2;
        int within = part switch { 0 => row, 1 => row - dim, _ => row - dim - kvDim };
        int head = within / headDim, j = within % headDim;
        switch (layout)
        {
            case FusedQkvLayout.PerHead:
                // (heads, 3, headDim): needs as many key/value heads as query heads.
                return (head * 3 + part) * headDim + j;
            case FusedQkvLayout.PerKeyValueGroup:
            {
                // (kvHeads, group + 2, headDim): the group's query heads, its key, its value.
                int group = heads / kvHeads;
                int kvHead = part == 0 ? head / group : head;
                int slot = part == 0 ? head % group : group + part - 1;
                return (kvHead * (group + 2) + slot) * headDim + j;
            }
            default:
                return row;
        }
    }
}
