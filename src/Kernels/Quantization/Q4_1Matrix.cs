using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q4_1, exactly: blocks of 32 4-bit codes q with an FP16 scale d and an FP16 offset m; value = q * d + m.
/// The codes are stored as an <see cref="Int4Matrix"/>'s nibbles (Q4_1's nibble order is Q4_0's, so a block's 16
/// bytes are copied as they are) and multiplied by the INT4 tile kernels; the scales and offsets live in a
/// <see cref="BlockScaleTable"/>. 5 bits a value, as in the file. Activations are always INT8, in blocks of 32.
/// </summary>
public sealed unsafe class Q4_1Matrix : Int8TileMatrix, IGgmlBlockRows
{
    /// <summary>Bytes of one Q4_1 block in a GGUF file: FP16 d, FP16 m, 16 bytes of nibbles.</summary>
    public const int BlockBytes = 20;

    private readonly NativeBuffer _quants; // tile layout of Int4Matrix
    private readonly BlockScaleTable _scales;

    public Q4_1Matrix(int rows, int columns) : base(rows, columns)
    {
        if (columns % Int4Matrix.ChunkSize != 0) throw new ArgumentException($"Q4_1 rows are whole blocks of {Int4Matrix.ChunkSize} values; {columns} is not.", nameof(columns));
        _quants = new NativeBuffer((long)Tiles * Int4Matrix.TileRows * columns / 2);
        _scales = new BlockScaleTable(Tiles, columns, zero: 0, withOffsets: true);
    }

    public override string Format => "Q4_1";

    public override long ByteSize => _quants.ByteLength + _scales.ByteLength;

    internal Int4View View => new((byte*)_quants.Pointer, Rows, Columns);

    internal BlockGroupScales Scales => _scales.Groups;

    /// <summary>Stores row <paramref name="row"/> from its Q4_1 blocks as a GGUF file holds them.</summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int count = Columns / Int4Matrix.ChunkSize;
        if (blocks.Length != count * BlockBytes) throw new ArgumentException($"A row of {Columns} values is {count} Q4_1 blocks of {BlockBytes} bytes.", nameof(blocks));
        var view = View;
        for (int b = 0; b < count; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            _scales.Set(row, b, (ushort)(block[0] | block[1] << 8), (ushort)(block[2] | block[3] << 8));
            view.SetRowChunk(row, b, Vector128.Create(block.Slice(4, Int4Matrix.RowChunkBytes)));
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var view = View;
        var scales = Scales;
        for (int k = 0; k < Columns; k++) destination[k] = scales.Value(row, k / Int4Matrix.ChunkSize, view.Quant(row, k));
    }

    internal override void MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd) =>
        Int4MatMul.MultiplyScaleMin(path, View, Scales, scratch, output, outputStride, tokens, tileBegin, tileEnd);

    public override void Dispose()
    {
        _quants.Dispose();
        _scales.Dispose();
        base.Dispose();
    }
}
