using System.Runtime.CompilerServices;
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

    private readonly sbyte* _codes;
    private readonly ushort* _scales;
    private readonly NativeBuffer[] _owned;

    /// <summary>An all-zero matrix in memory it owns, to be filled with <see cref="SetRow"/> or <see cref="QuantizeRow"/>.</summary>
    public Q8Matrix(int rows, int columns) : this(rows, columns, external: null)
    {
    }

    /// <summary>
    /// A matrix over arrays that already hold this layout (for example, inside a memory-mapped model file): codes of
    /// <see cref="CodeBytes"/> bytes and scales of <see cref="ScaleBytes"/>, padding rows included. The caller keeps
    /// that memory alive and unchanged for the life of the matrix.
    /// </summary>
    public static Q8Matrix FromMemory(int rows, int columns, sbyte* codes, ushort* scales) =>
        new(rows, columns, ((nint)codes, (nint)scales));

    private Q8Matrix(int rows, int columns, (nint Codes, nint Scales)? external) : base(rows, columns)
    {
        if (columns % Int4Matrix.ChunkSize != 0) throw new ArgumentException($"Q8_0 rows are whole blocks of {Int4Matrix.ChunkSize} values; {columns} is not.", nameof(columns));
        CodeBytes = CodeBytesOf(rows, columns);
        ScaleBytes = ScaleBytesOf(rows, columns);
        if (external is { } memory)
        {
            _codes = (sbyte*)memory.Codes;
            _scales = (ushort*)memory.Scales;
            _owned = [];
            return;
        }
        // Zeroed: padding rows have code 0 and scale 0, so they compute 0.
        var codes = new NativeBuffer(CodeBytes);
        var scales = new NativeBuffer(ScaleBytes);
        _owned = [codes, scales];
        _codes = (sbyte*)codes.Pointer;
        _scales = (ushort*)scales.Pointer;
    }

    /// <summary>Bytes of the codes array ([tile][chunk][quad][row][4]) for a matrix of this shape, padding rows included.</summary>
    public static long CodeBytesOf(int rows, int columns) => TilesOf(rows) * Int4Matrix.TileRows * columns;

    /// <summary>Bytes of the FP16 scales array ([tile][chunk][row]) for a matrix of this shape, padding rows included.</summary>
    public static long ScaleBytesOf(int rows, int columns) => TilesOf(rows) * Int4Matrix.TileRows * (columns / Int4Matrix.ChunkSize) * sizeof(ushort);

    private static long TilesOf(int rows) => ((long)rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows;

    public long CodeBytes { get; }

    public long ScaleBytes { get; }

    /// <summary>The two arrays as stored, for writing them to a file unchanged.</summary>
    public (nint Codes, nint Scales) RawArrays => ((nint)_codes, (nint)_scales);

    public override string Format => "Q8_0";

    public override long ByteSize => CodeBytes + ScaleBytes;

    public override long OwnedBytes => _owned.Sum(b => b.ByteLength);

    internal Q8View View => new(_codes, _scales, Rows, Columns);

    /// <summary>Stores row <paramref name="row"/> from its Q8_0 blocks as a GGUF file holds them.</summary>
    [MethodImpl(LoadLoops.Compile)]
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

    /// <summary>
    /// Quantizes one row of FP32 weights into place as ggml's quantize_row_q8_0_ref does: per block of 32, d = max|x| / 127
    /// (stored as FP16), codes round(x / d) (computed with the FP32 d, halves away from zero), all zero when the block is.
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public void QuantizeRow(int row, ReadOnlySpan<float> values)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        if (values.Length != Columns) throw new ArgumentException($"A row has {Columns} values.", nameof(values));
        var view = View;
        for (int c = 0; c < Columns / Int4Matrix.ChunkSize; c++)
        {
            var block = values.Slice(c * Int4Matrix.ChunkSize, Int4Matrix.ChunkSize);
            float amax = System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(block);
            amax = MathF.Abs(amax);
            if (!float.IsFinite(amax)) throw new ArgumentException($"Row {row} holds a value that is not finite, in block {c}.", nameof(values));
            float d = amax / 127f, inverse = d != 0 ? 1f / d : 0f;
            *view.Scale(row, c) = BitConverter.HalfToUInt16Bits((Half)d);
            for (int j = 0; j < Int4Matrix.ChunkSize; j++)
                *view.Code(row, c * Int4Matrix.ChunkSize + j) = (sbyte)MathF.Round(block[j] * inverse, MidpointRounding.AwayFromZero);
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
        foreach (var buffer in _owned) buffer.Dispose();
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
