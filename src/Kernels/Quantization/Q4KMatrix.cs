using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q4_K in the kernels' tile layout, exactly: super-blocks of 256 values with an FP16 scale d and minimum dmin,
/// eight groups of 32 each with a 6-bit scale sc and 6-bit minimum m, and 4-bit codes q; value = (d * sc) * q - dmin * m,
/// each product in float as ggml computes it. The codes are stored as an <see cref="Int4Matrix"/>'s (same tiles,
/// same kernels' loads and multiplies); only the way a block's integer sums become outputs differs
/// (<see cref="Q4KGroupScales"/>). Per row and super-block: 128 bytes of codes, 4 bytes of d and dmin, 16 bytes of
/// sc and m (4.625 bits a value against Q4_K's 4.5: the 6-bit fields are kept a byte each, so no kernel unpacks them).
/// Activations are always INT8, in blocks of 32 (one per group).
/// </summary>
public sealed unsafe class Q4KMatrix : WeightMatrix
{
    public const int SuperBlock = 256;

    /// <summary>Bytes of one Q4_K block in a GGUF file: d, dmin, 12 bytes of packed 6-bit scales and minimums, 128 of codes.</summary>
    public const int BlockBytes = 144;

    private const int GroupsPerSuperBlock = SuperBlock / Int4Matrix.ChunkSize;

    private readonly NativeBuffer _quants;    // tile layout of Int4Matrix
    private readonly NativeBuffer _superScales; // [tile][super-block][8 rows] FP16 d
    private readonly NativeBuffer _superMins;   // [tile][super-block][8 rows] FP16 dmin
    private readonly NativeBuffer _groupScales; // [tile][group][8 rows] byte sc
    private readonly NativeBuffer _groupMins;   // [tile][group][8 rows] byte m

    public Q4KMatrix(int rows, int columns) : base(rows, columns)
    {
        if (columns % SuperBlock != 0) throw new ArgumentException($"Q4_K rows are whole super-blocks of {SuperBlock} values; {columns} is not.", nameof(columns));
        Tiles = (rows + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows;
        long tileRows = (long)Tiles * Int4Matrix.TileRows;
        _quants = new NativeBuffer(tileRows * columns / 2, zero: false);
        new Span<byte>(_quants.Pointer, checked((int)_quants.ByteLength)).Fill(0); // padding rows: code 0, scale 0, min 0 => 0
        _superScales = new NativeBuffer(tileRows * (columns / SuperBlock) * sizeof(ushort));
        _superMins = new NativeBuffer(tileRows * (columns / SuperBlock) * sizeof(ushort));
        _groupScales = new NativeBuffer(tileRows * (columns / Int4Matrix.ChunkSize));
        _groupMins = new NativeBuffer(tileRows * (columns / Int4Matrix.ChunkSize));
    }

    public int Tiles { get; }

    public override string Format => "Q4_K";

    public override long ByteSize => _quants.ByteLength + _superScales.ByteLength + _superMins.ByteLength + _groupScales.ByteLength + _groupMins.ByteLength;

    public override int RowGrain => Int4Matrix.TileRows;

    internal Int4View View => new((byte*)_quants.Pointer, Rows, Columns);

    internal Q4KGroupScales Scales => new((ushort*)_superScales.Pointer, (ushort*)_superMins.Pointer,
        (byte*)_groupScales.Pointer, (byte*)_groupMins.Pointer, Columns);

    /// <summary>Stores row <paramref name="row"/> from its Q4_K blocks as a GGUF file holds them.</summary>
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int superBlocks = Columns / SuperBlock;
        if (blocks.Length != superBlocks * BlockBytes) throw new ArgumentException($"A row of {Columns} values is {superBlocks} Q4_K blocks of {BlockBytes} bytes.", nameof(blocks));
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows, groups = Columns / Int4Matrix.ChunkSize;
        var view = View;
        for (int s = 0; s < superBlocks; s++)
        {
            var block = blocks.Slice(s * BlockBytes, BlockBytes);
            long line = ((long)tile * superBlocks + s) * Int4Matrix.TileRows + r;
            ((ushort*)_superScales.Pointer)[line] = (ushort)(block[0] | block[1] << 8);
            ((ushort*)_superMins.Pointer)[line] = (ushort)(block[2] | block[3] << 8);
            var packed = block.Slice(4, 12);
            var codes = block.Slice(16, 128);
            for (int j = 0; j < GroupsPerSuperBlock; j++)
            {
                var (scale, min) = ScaleMin(j, packed);
                long groupLine = ((long)tile * groups + s * GroupsPerSuperBlock + j) * Int4Matrix.TileRows + r;
                ((byte*)_groupScales.Pointer)[groupLine] = scale;
                ((byte*)_groupMins.Pointer)[groupLine] = min;
                // Q4_K: group 2p takes the low nibbles of codes[32p..32p+31], group 2p+1 their high nibbles.
                var source = codes.Slice(j / 2 * 32, 32);
                int shift = j % 2 * 4, chunk = s * GroupsPerSuperBlock + j;
                for (int b = 0; b < Int4Matrix.RowChunkBytes; b++)
                {
                    int low = source[b] >> shift & 0x0F, high = source[b + 16] >> shift & 0x0F;
                    *view.RowChunkByte(row, chunk, b) = (byte)(high << 4 | low);
                }
            }
        }
    }

    /// <summary>The j-th 6-bit (scale, min) pair of ggml's 12-byte packing.</summary>
    internal static (byte Scale, byte Min) ScaleMin(int j, ReadOnlySpan<byte> q) => j < 4
        ? ((byte)(q[j] & 63), (byte)(q[j + 4] & 63))
        : ((byte)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)), (byte)((q[j + 4] >> 4) | ((q[j] >> 6) << 4)));

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

    public override void PrepareLayout(int tokens, ActivationScratch scratch) => scratch.LayOutInt8(tokens, Columns, Int4Matrix.ChunkSize);

    public override void PrepareTokens(float* input, int first, int last, ActivationScratch scratch) => scratch.QuantizeInt8Tokens(input, first, last, Columns);

    public override string ActivationLayout => $"int8 blocks of {Int4Matrix.ChunkSize}, {Columns} wide";

    public override void MultiplyRows(float* input, float* output, int outputStride, int tokens, int rowBegin, int rowEnd, ActivationScratch scratch) =>
        Int4MatMul.MultiplyQ4K(KernelDispatch.Best, View, Scales, scratch, output, outputStride, tokens, rowBegin / Int4Matrix.TileRows,
            (rowEnd + Int4Matrix.TileRows - 1) / Int4Matrix.TileRows);

    public override void Dispose()
    {
        _quants.Dispose();
        _superScales.Dispose();
        _superMins.Dispose();
        _groupScales.Dispose();
        _groupMins.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Q4_K's scales for the tile kernels: group g of a tile has scale d * sc and minimum dmin * m per row (float products,
/// as ggml computes them), and a block contributes float(rowSums) * (scale * xScale) - (min * xScale) * float(xSum).
/// </summary>
internal unsafe struct Q4KGroupScales : IGroupScales
{
    private readonly ushort* _superScales;
    private readonly ushort* _superMins;
    private readonly byte* _groupScales;
    private readonly byte* _groupMins;
    private readonly int _superBlocks;
    private readonly int _groups;
    private Vector256<float> _scale;
    private Vector256<float> _min;

    public Q4KGroupScales(ushort* superScales, ushort* superMins, byte* groupScales, byte* groupMins, int columns)
    {
        _superScales = superScales;
        _superMins = superMins;
        _groupScales = groupScales;
        _groupMins = groupMins;
        _superBlocks = columns / Q4KMatrix.SuperBlock;
        _groups = columns / Int4Matrix.ChunkSize;
    }

    private const int GroupsPerSuperBlock = Q4KMatrix.SuperBlock / Int4Matrix.ChunkSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginGroup(int tile, int group)
    {
        long superLine = ((long)tile * _superBlocks + group / GroupsPerSuperBlock) * Int4Matrix.TileRows;
        long groupLine = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        _scale = Ops.HalfConversion.ToSingle8(_superScales + superLine) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(_groupScales + groupLine));
        _min = Ops.HalfConversion.ToSingle8(_superMins + superLine) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(_groupMins + groupLine));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc)
    {
        var xs = Vector256.Create(xScale);
        return acc + (Avx.ConvertToVector256Single(rowSums) * (_scale * xs) - _min * xs * Vector256.Create((float)*xSum));
    }

    /// <summary>Row <paramref name="row"/>'s (scale, min) of group <paramref name="group"/>, for the reference and dequantization.</summary>
    public readonly (float Scale, float Min) Row(int row, int group)
    {
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows;
        long superLine = ((long)tile * _superBlocks + group / GroupsPerSuperBlock) * Int4Matrix.TileRows + r;
        long groupLine = ((long)tile * _groups + group) * Int4Matrix.TileRows + r;
        float d = (float)BitConverter.UInt16BitsToHalf(_superScales[superLine]);
        float dmin = (float)BitConverter.UInt16BitsToHalf(_superMins[superLine]);
        return (d * _groupScales[groupLine], dmin * _groupMins[groupLine]);
    }
}
