using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q8_0, exactly: blocks of 32 signed 8-bit codes q with an FP16 scale d; value = q * d. Tiles of eight rows;
/// within a tile, each chunk of 32 columns is eight quads (four consecutive columns) of all eight rows: quad j of row r
/// at byte 32 j + 4 r of the chunk's 256. One 32-byte load then holds the same four columns of every row, which a
/// multiply-add against those four activations broadcast turns into one 32-bit sum per row, in row order, with no
/// reduction across lanes:
/// <code>
///   chunk c of tile t (256 bytes):  [q0 r0 | q0 r1 | ... | q0 r7] [q1 r0 | ... | q1 r7] ... [q7 r0 | ... | q7 r7]
///                                    4 bytes each: columns 32c + 4j .. 32c + 4j + 3 of row 8t + r
/// </code>
/// The scales are FP16, [tile][chunk][8 rows]. 8.5 bits a value, as in the file. Activations are always INT8, in
/// blocks of 32.
/// </summary>
public sealed unsafe class Q8Matrix : Int8TileMatrix, IGgmlBlockRows
{
    /// <summary>Bytes of one Q8_0 block in a GGUF file: FP16 d, 32 signed codes.</summary>
    public const int BlockBytes = 34;

    /// <summary>Bytes of one tile's chunk: 8 rows x 32 codes.</summary>
    public const int ChunkBytes = Int4Matrix.TileRows * Int4Matrix.ChunkSize;

    private readonly NativeBuffer _codes;
    private readonly NativeBuffer _scales;

    public Q8Matrix(int rows, int columns) : base(rows, columns)
    {
        if (columns % Int4Matrix.ChunkSize != 0) throw new ArgumentException($"Q8_0 rows are whole blocks of {Int4Matrix.ChunkSize} values; {columns} is not.", nameof(columns));
        // Zeroed: padding rows have code 0 and scale 0, so they compute 0.
        _codes = new NativeBuffer((long)Tiles * Int4Matrix.TileRows * columns);
        _scales = new NativeBuffer((long)Tiles * Int4Matrix.TileRows * (columns / Int4Matrix.ChunkSize) * sizeof(ushort));
    }

    public override string Format => "Q8_0";

    public override long ByteSize => _codes.ByteLength + _scales.ByteLength;

    internal Q8View View => new((sbyte*)_codes.Pointer, (ushort*)_scales.Pointer, Rows, Columns);

    /// <summary>Stores row <paramref name="row"/> from its Q8_0 blocks as a GGUF file holds them.</summary>
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int count = Columns / Int4Matrix.ChunkSize;
        if (blocks.Length != count * BlockBytes) throw new ArgumentException($"A row of {Columns} values is {count} Q8_0 blocks of {BlockBytes} bytes.", nameof(blocks));
        var view = View;
        for (int c = 0; c < count; c++)
        {
            var block = blocks.Slice(c * BlockBytes, BlockBytes);
            *view.Scale(row, c) = (ushort)(block[0] | block[1] << 8);
            for (int j = 0; j < Int4Matrix.ChunkSize; j++) *view.Code(row, c * Int4Matrix.ChunkSize + j) = (sbyte)block[2 + j];
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var view = View;
        for (int k = 0; k < Columns; k++)
            destination[k] = *view.Code(row, k) * (float)BitConverter.UInt16BitsToHalf(*view.Scale(row, k / Int4Matrix.ChunkSize));
    }

    internal override void MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd) =>
        Q8MatMul.Multiply(path, View, scratch, output, outputStride, tokens, tileBegin, tileEnd);

    public override void Dispose()
    {
        _codes.Dispose();
        _scales.Dispose();
        base.Dispose();
    }
}

/// <summary>Raw pointers to a <see cref="Q8Matrix"/>'s codes and scales and its geometry, for the kernels.</summary>
internal readonly unsafe struct Q8View(sbyte* codes, ushort* scales, int rows, int columns)
{
    public readonly sbyte* Codes = codes;
    public readonly ushort* Scales = scales;
    public readonly int Rows = rows;
    public readonly int Columns = columns;
    public readonly int Chunks = columns / Int4Matrix.ChunkSize;

    /// <summary>First byte of tile <paramref name="tile"/>'s codes.</summary>
    public sbyte* Tile(int tile) => Codes + (long)tile * Chunks * Q8Matrix.ChunkBytes;

    /// <summary>The eight rows' FP16 scales of a tile's chunk.</summary>
    public ushort* TileScales(int tile, int chunk) => Scales + ((long)tile * Chunks + chunk) * Int4Matrix.TileRows;

    /// <summary>The code of row <paramref name="row"/> at column <paramref name="k"/>.</summary>
    public sbyte* Code(int row, int k)
    {
        int j = k % Int4Matrix.ChunkSize;
        return Tile(row / Int4Matrix.TileRows) + (long)(k / Int4Matrix.ChunkSize) * Q8Matrix.ChunkBytes + j / 4 * 32 + row % Int4Matrix.TileRows * 4 + j % 4;
    }

    /// <summary>The FP16 scale of row <paramref name="row"/>'s block <paramref name="chunk"/>.</summary>
    public ushort* Scale(int row, int chunk) => TileScales(row / Int4Matrix.TileRows, chunk) + row % Int4Matrix.TileRows;
}
