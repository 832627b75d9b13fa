using System.Runtime.CompilerServices;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q5_K, exactly: Q4_K's two-level scales and minimums (<see cref="KQuantScaleTable"/>) with 5-bit codes;
/// value = (d * sc) * code - dmin * m. The low 4 bits of the codes are stored as an <see cref="Int4Matrix"/>'s nibbles
/// and the fifth in a <see cref="HighBitsPlane"/>, multiplied by the kernels the 6-bit Q6_K uses
/// (<see cref="HighBitsMatMul"/>). Per row and super-block: 128 + 64 bytes of codes, 20 of scales (6.6 bits a value
/// against Q5_K's 5.5: the plane keeps two bits a code so that one kernel serves the 5- and 6-bit formats).
/// Activations are always INT8, in blocks of 32.
/// </summary>
public sealed unsafe class Q5KMatrix : Int8TileMatrix, IGgmlBlockRows
{
    public const int SuperBlock = KQuantScaleTable.SuperBlock;

    /// <summary>Bytes of one Q5_K block in a GGUF file: d, dmin, 12 bytes of packed scales and minimums, 32 of fifth bits, 128 of nibbles.</summary>
    public const int BlockBytes = 176;

    private readonly HighBitsCodes _codes;
    private readonly KQuantScaleTable _scales;

    public Q5KMatrix(int rows, int columns) : base(rows, columns)
    {
        if (columns % SuperBlock != 0) throw new ArgumentException($"Q5_K rows are whole super-blocks of {SuperBlock} values; {columns} is not.", nameof(columns));
        _codes = new HighBitsCodes(rows, Tiles, columns);
        _scales = new KQuantScaleTable(Tiles, columns);
    }

    public override string Format => "Q5_K";

    public override long ByteSize => _codes.ByteLength + _scales.ByteLength;

    internal Int4View Lows => _codes.Lows;

    internal HighBitsPlane Plane => _codes.Plane;

    internal KQuantGroupScales Scales => _scales.Groups;

    /// <summary>Stores row <paramref name="row"/> from its Q5_K blocks as a GGUF file holds them.</summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int superBlocks = Columns / SuperBlock;
        if (blocks.Length != superBlocks * BlockBytes) throw new ArgumentException($"A row of {Columns} values is {superBlocks} Q5_K blocks of {BlockBytes} bytes.", nameof(blocks));
        Span<byte> codes = stackalloc byte[Int4Matrix.ChunkSize];
        for (int s = 0; s < superBlocks; s++)
        {
            var block = blocks.Slice(s * BlockBytes, BlockBytes);
            _scales.SetSuperBlock(row, s, block);
            var fifth = block.Slice(16, 32);
            var nibbles = block.Slice(48, 128);
            for (int j = 0; j < SuperBlock / Int4Matrix.ChunkSize; j++)
            {
                // Group 2p takes the low nibbles of nibbles[32p..32p+31] and bit 2p of fifth[l]; group 2p+1 the high
                // nibbles and bit 2p+1.
                int shift = j % 2 * 4;
                for (int l = 0; l < Int4Matrix.ChunkSize; l++)
                    codes[l] = (byte)((nibbles[j / 2 * 32 + l] >> shift & 0x0F) | (fifth[l] >> j & 1) << 4);
                _codes.SetChunk(row, s * (SuperBlock / Int4Matrix.ChunkSize) + j, codes);
            }
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var scales = Scales;
        for (int k = 0; k < Columns; k++)
        {
            var (scale, min) = scales.Row(row, k / Int4Matrix.ChunkSize);
            destination[k] = scale * _codes.Code(row, k) - min;
        }
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
