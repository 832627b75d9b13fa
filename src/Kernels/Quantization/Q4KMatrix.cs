using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q4_K in the kernels' tile layout, exactly: super-blocks of 256 values with an FP16 scale d and minimum dmin,
/// eight groups of 32 each with a 6-bit scale sc and 6-bit minimum m, and 4-bit codes q; value = (d * sc) * q - dmin * m,
/// each product in float as ggml computes it. The codes are stored as an <see cref="Int4Matrix"/>'s (same tiles,
/// same kernels' loads and multiplies); only the way a block's integer sums become outputs differs
/// (<see cref="KQuantGroupScales"/>). Per row and super-block: 128 bytes of codes, 4 bytes of d and dmin, 16 bytes of
/// sc and m (4.625 bits a value against Q4_K's 4.5: the 6-bit fields are kept a byte each, so no kernel unpacks them).
/// Activations are always INT8, in blocks of 32 (one per group).
/// </summary>
public sealed unsafe class Q4KMatrix : Int8TileMatrix, IGgmlBlockRows
{
    public const int SuperBlock = KQuantScaleTable.SuperBlock;

    /// <summary>Bytes of one Q4_K block in a GGUF file: d, dmin, 12 bytes of packed 6-bit scales and minimums, 128 of codes.</summary>
    public const int BlockBytes = 144;

    private readonly NativeBuffer _quants; // tile layout of Int4Matrix
    private readonly KQuantScaleTable _scales;

    public Q4KMatrix(int rows, int columns) : base(rows, columns)
    {
        if (columns % SuperBlock != 0) throw new ArgumentException($"Q4_K rows are whole super-blocks of {SuperBlock} values; {columns} is not.", nameof(columns));
        _quants = new NativeBuffer((long)Tiles * Int4Matrix.TileRows * columns / 2); // padding rows: code 0, scale 0, min 0 => 0
        _scales = new KQuantScaleTable(Tiles, columns);
    }

    public override string Format => "Q4_K";

    public override long ByteSize => _quants.ByteLength + _scales.ByteLength;

    internal Int4View View => new((byte*)_quants.Pointer, Rows, Columns);

    internal KQuantGroupScales Scales => _scales.Groups;

    /// <summary>
    /// Stores row <paramref name="row"/> from its Q4_K blocks as a GGUF file holds them, 16 bytes at a time: done a byte
    /// at a time, this and Q6_K's repacking were two thirds of a Llama-2-7B-shaped Q4_K_M GGUF's load (13.0 s from the
    /// page cache on an AMD Zen 4 guest, 2 threads; 4.6-6.7 s after, most of the rest the system zeroing fresh pages:
    /// bench <c>load</c>).
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int superBlocks = Columns / SuperBlock;
        if (blocks.Length != superBlocks * BlockBytes) throw new ArgumentException($"A row of {Columns} values is {superBlocks} Q4_K blocks of {BlockBytes} bytes.", nameof(blocks));
        var view = View;
        var low = Vector128.Create((byte)0x0F);
        fixed (byte* first = blocks)
        {
            for (int s = 0; s < superBlocks; s++)
            {
                byte* block = first + s * BlockBytes;
                _scales.SetSuperBlock(row, s, blocks.Slice(s * BlockBytes, BlockBytes));
                for (int p = 0; p < SuperBlock / Int4Matrix.ChunkSize / 2; p++)
                {
                    // Q4_K: 32 bytes of codes serve two groups, 2p taking their low nibbles and 2p + 1 their high
                    // nibbles; in the tile layout a row's byte j of a chunk holds weights j (low) and j + 16 (high).
                    var a = Vector128.Load(block + 16 + 32 * p);
                    var b = Vector128.Load(block + 16 + 32 * p + 16);
                    int chunk = s * (SuperBlock / Int4Matrix.ChunkSize) + 2 * p;
                    view.SetRowChunk(row, chunk, (a & low) | Vector128.ShiftLeft(b & low, 4));
                    view.SetRowChunk(row, chunk + 1, Vector128.ShiftRightLogical(a, 4) | (b & ~low));
                }
            }
        }
    }

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var view = View;
        var scales = Scales;
        for (int k = 0; k < Columns; k++)
        {
            var (scale, min) = scales.Row(row, k / Int4Matrix.ChunkSize);
            destination[k] = scale * view.Quant(row, k) - min;
        }
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
