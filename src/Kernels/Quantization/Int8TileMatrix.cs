using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// A matrix kept in tiles of eight rows (<see cref="Int4Matrix.TileRows"/>) whose kernels take INT8 activations in
/// blocks of 32: every ggml block type with a layout of its own (Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K). What those
/// types share lives here: the tile count, the activation layout and its preparation, and the hand-off from a range
/// of rows to the tiles that hold them. Each type supplies its storage and its kernels.
/// </summary>
public abstract unsafe class Int8TileMatrix : WeightMatrix, ITileKernels
{
    protected Int8TileMatrix(int rows, int columns) : base(rows, columns) =>
        Tiles = (rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows;

    /// <summary>Tiles of eight rows (the last may be partial).</summary>
    public int Tiles { get; }

    public override int RowGrain => Int4Matrix.TileRows;

    public override string ActivationLayout => $"int8 blocks of {Int4Matrix.ChunkSize}, {Columns} wide";

    public override void PrepareLayout(int tokens, ActivationScratch scratch) => scratch.LayOutInt8(tokens, Columns, Int4Matrix.ChunkSize);

    public override void PrepareTokens(float* input, int first, int last, ActivationScratch scratch) => scratch.QuantizeInt8Tokens(input, first, last, Columns);

    public override void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch) =>
        MultiplyTiles(KernelDispatch.Best, scratch, output, outputStride, tokens, rowBegin / Int4Matrix.TileRows, (rowEnd + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows);

    void ITileKernels.MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd) =>
        MultiplyTiles(path, scratch, output, outputStride, tokens, tileBegin, tileEnd);

    /// <summary>Output rows of tiles [<paramref name="tileBegin"/>, <paramref name="tileEnd"/>) for every token, on <paramref name="path"/>.</summary>
    internal abstract void MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd);
}
