using System.Runtime.CompilerServices;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q5_0 and Q5_1, exactly: blocks of 32 5-bit codes with an FP16 scale d (Q5_0: value = d * (code - 16)) or an
/// FP16 scale d and offset m (Q5_1: value = code * d + m). The low 4 bits of the codes are stored as an
/// <see cref="Int4Matrix"/>'s nibbles (the file's nibble order is Q4_0's) and the fifth in a <see cref="HighBitsPlane"/>,
/// multiplied by the kernels the 6-bit Q6_K uses (<see cref="HighBitsMatMul"/>); scales in a <see cref="BlockScaleTable"/>.
/// 6.5 (Q5_0) or 7 (Q5_1) bits a value against the file's 5.5 and 6: the plane keeps two bits a code so that one kernel
/// serves the 5- and 6-bit formats. Activations are always INT8, in blocks of 32.
/// </summary>
public sealed unsafe class Q5Matrix : Int8TileMatrix, IGgmlBlockRows
{
    private readonly HighBitsCodes _codes;
    private readonly BlockScaleTable _scales;
    private readonly bool _withOffsets;

    /// <param name="withOffsets">false for Q5_0, true for Q5_1.</param>
    public Q5Matrix(int rows, int columns, bool withOffsets) : base(rows, columns)
    {
        if (columns % Int4Matrix.ChunkSize != 0) throw new ArgumentException($"Q5 rows are whole blocks of {Int4Matrix.ChunkSize} values; {columns} is not.", nameof(columns));
        _withOffsets = withOffsets;
        _codes = new HighBitsCodes(rows, Tiles, columns);
        _scales = new BlockScaleTable(Tiles, columns, zero: 16, withOffsets);
    }

    /// <summary>Bytes of one block in a GGUF file: FP16 d (and FP16 m for Q5_1), 4 bytes of fifth bits, 16 of nibbles.</summary>
    public int BlockBytes => _withOffsets ? 24 : 22;

    public override string Format => _withOffsets ? "Q5_1" : "Q5_0";

    public override long ByteSize => _codes.ByteLength + _scales.ByteLength;

    internal Int4View Lows => _codes.Lows;

    internal HighBitsPlane Plane => _codes.Plane;

    internal BlockGroupScales Scales => _scales.Groups;

    /// <summary>Stores row <paramref name="row"/> from its Q5_0 or Q5_1 blocks as a GGUF file holds them.</summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int count = Columns / Int4Matrix.ChunkSize, blockBytes = BlockBytes;
        if (blocks.Length != count * blockBytes) throw new ArgumentException($"A row of {Columns} values is {count} {Format} blocks of {blockBytes} bytes.", nameof(blocks));
        Span<byte> codes = stackalloc byte[Int4Matrix.ChunkSize];
        int fifthAt = _withOffsets ? 4 : 2;
        for (int b = 0; b < count; b++)
        {
            var block = blocks.Slice(b * blockBytes, blockBytes);
            _scales.Set(row, b, (ushort)(block[0] | block[1] << 8), _withOffsets ? (ushort)(block[2] | block[3] << 8) : (ushort)0);
            uint fifth = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(fifthAt, 4));
            var nibbles = block.Slice(fifthAt + 4, 16);
            // Value j (0..15) is the low nibble of byte j, value j + 16 its high nibble; bit j of the fifth bits goes
            // above value j.
            for (int j = 0; j < 16; j++)
            {
                codes[j] = (byte)((nibbles[j] & 0x0F) | (int)(fifth >> j & 1) << 4);
                codes[j + 16] = (byte)((nibbles[j] >> 4) | (int)(fifth >> (j + 16) & 1) << 4);
            }
            _codes.SetChunk(row, b, codes);
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var scales = Scales;
        for (int k = 0; k < Columns; k++) destination[k] = scales.Value(row, k / Int4Matrix.ChunkSize, _codes.Code(row, k));
    }

    internal override void MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd) =>
        HighBitsMatMul.Multiply(path, Lows, Plane, Scales, scratch, output, outputStride, tokens, tileBegin, tileEnd);

    public override void Dispose()
    {
        _codes.Dispose();
        _scales.Dispose();
        base.Dispose();
    }
}
