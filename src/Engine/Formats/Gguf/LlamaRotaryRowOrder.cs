namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Row order of the query and key projections as llama.cpp's Llama graph expects it. Hugging Face checkpoints (and
/// this engine) rotate the two halves of each head (dimension i pairs with i + headDim/2); llama.cpp rotates adjacent
/// pairs (2i with 2i + 1). Its converter therefore reorders each head's rows as
/// <c>w.reshape(heads, 2, headDim/2, columns).swapaxes(1, 2)</c>: row 2i of a head is the original row i and row
/// 2i + 1 the original row i + headDim/2. The attention scores are unchanged, because queries and keys are reordered alike.
/// </summary>
public static class LlamaRotaryRowOrder
{
    /// <summary>The original row that row <paramref name="row"/> of the reordered matrix comes from.</summary>
    public static int SourceRow(int row, int rows, int heads)
    {
        if (heads < 1 || rows % heads != 0 || rows / heads % 2 != 0)
            throw new ArgumentException($"{rows} rows do not split into {heads} heads of even size.", nameof(heads));
        if ((uint)row >= (uint)rows) throw new ArgumentOutOfRangeException(nameof(row));
        int headDim = rows / heads;
        int head = row / headDim, within = row % headDim;
        return head * headDim + within % 2 * (headDim / 2) + within / 2;
    }
}
