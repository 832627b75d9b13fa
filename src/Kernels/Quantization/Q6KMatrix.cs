using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// ggml's Q6_K in a tile layout of its own, exactly: super-blocks of 256 values with an FP16 scale d, sixteen
/// sub-blocks of 16 with an 8-bit signed scale sc each, and 6-bit codes q; value = (d * sc) * (q - 32), the product in
/// float as ggml computes it. The low 4 bits of the codes are stored exactly as an <see cref="Int4Matrix"/>'s nibbles
/// (same tiles, same loads); the top 2 bits of the two codes of each nibble byte are a 4-bit field (bits 0-1 for the
/// low nibble's code, 2-3 for the high nibble's), two fields a byte in nibble-byte order: per tile and chunk, 32 bytes
/// for each of the two halves. A chunk of 32 values is two sub-blocks: its low nibbles (values 0..15) and its high
/// nibbles (16..31), so a kernel keeps two sums per row. Per row and super-block: 128 + 64 bytes of codes, 16 of scales,
/// 2 of d (6.56 bits a value, as in the file). Activations are always INT8, in blocks of 32.
/// </summary>
public sealed unsafe class Q6KMatrix : Int8TileMatrix, IGgmlBlockRows
{
    public const int SuperBlock = 256;

    /// <summary>Bytes of one Q6_K block in a GGUF file: 128 bytes of low bits, 64 of high bits, 16 scales, FP16 d.</summary>
    public const int BlockBytes = 210;

    private const int SubBlock = 16;

    private readonly HighBitsCodes _codes;
    private readonly NativeBuffer _superScales; // [tile][super-block][8 rows] FP16 d
    private readonly NativeBuffer _subScales;   // [tile][sub-block][8 rows] sbyte sc

    public Q6KMatrix(int rows, int columns) : base(rows, columns)
    {
        if (columns % SuperBlock != 0) throw new ArgumentException($"Q6_K rows are whole super-blocks of {SuperBlock} values; {columns} is not.", nameof(columns));
        long tileRows = (long)Tiles * Int4Matrix.TileRows;
        // Zeroed: padding rows have code 0, scale 0, d 0, so they compute 0.
        _codes = new HighBitsCodes(rows, Tiles, columns);
        _superScales = new NativeBuffer(tileRows * (columns / SuperBlock) * sizeof(ushort));
        _subScales = new NativeBuffer(tileRows * (columns / SubBlock));
    }

    public override string Format => "Q6_K";

    public override long ByteSize => _codes.ByteLength + _superScales.ByteLength + _subScales.ByteLength;

    internal Int4View Lows => _codes.Lows;

    internal HighBitsPlane Plane => _codes.Plane;

    internal Q6KChunkScales Scales => new((ushort*)_superScales.Pointer, (sbyte*)_subScales.Pointer, Columns);

    /// <summary>Stores row <paramref name="row"/> from its Q6_K blocks as a GGUF file holds them.</summary>
    public void SetRow(int row, ReadOnlySpan<byte> blocks)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        int superBlocks = Columns / SuperBlock;
        if (blocks.Length != superBlocks * BlockBytes) throw new ArgumentException($"A row of {Columns} values is {superBlocks} Q6_K blocks of {BlockBytes} bytes.", nameof(blocks));
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows;
        Span<byte> codes = stackalloc byte[SuperBlock];
        for (int s = 0; s < superBlocks; s++)
        {
            var block = blocks.Slice(s * BlockBytes, BlockBytes);
            Codes(block, codes);
            ((ushort*)_superScales.Pointer)[((long)tile * superBlocks + s) * Int4Matrix.TileRows + r] = (ushort)(block[208] | block[209] << 8);
            for (int sub = 0; sub < SuperBlock / SubBlock; sub++)
                ((sbyte*)_subScales.Pointer)[((long)tile * (Columns / SubBlock) + s * (SuperBlock / SubBlock) + sub) * Int4Matrix.TileRows + r] = (sbyte)block[192 + sub];
            for (int c = 0; c < SuperBlock / Int4Matrix.ChunkSize; c++)
                _codes.SetChunk(row, s * (SuperBlock / Int4Matrix.ChunkSize) + c, codes.Slice(c * Int4Matrix.ChunkSize, Int4Matrix.ChunkSize));
        }
    }

    /// <summary>The 256 6-bit codes of one Q6_K block, in value order (ggml's dequantization order).</summary>
    private static void Codes(ReadOnlySpan<byte> block, Span<byte> codes)
    {
        var ql = block.Slice(0, 128);
        var qh = block.Slice(128, 64);
        for (int half = 0; half < 2; half++)
        {
            for (int l = 0; l < 32; l++)
            {
                byte low0 = ql[64 * half + l], low1 = ql[64 * half + l + 32], high = qh[32 * half + l];
                codes[128 * half + l] = (byte)((low0 & 0x0F) | (high & 3) << 4);
                codes[128 * half + l + 32] = (byte)((low1 & 0x0F) | (high >> 2 & 3) << 4);
                codes[128 * half + l + 64] = (byte)((low0 >> 4) | (high >> 4 & 3) << 4);
                codes[128 * half + l + 96] = (byte)((low1 >> 4) | (high >> 6 & 3) << 4);
            }
        }
    }

    /// <summary>Code (0..63) of row <paramref name="row"/> at column <paramref name="k"/>.</summary>
    internal int Code(int row, int k) => _codes.Code(row, k);

    public override void DequantizeRow(int row, Span<float> destination)
    {
        var scales = Scales;
        for (int k = 0; k < Columns; k++) destination[k] = scales.Scale(row, k / SubBlock) * (Code(row, k) - 32);
    }

    internal override void MultiplyTiles(KernelPath path, ActivationScratch scratch, float* output, int outputStride, int tokens, int tileBegin, int tileEnd) =>
        HighBitsMatMul.Multiply(path, Lows, Plane, Scales, scratch, output, outputStride, tokens, tileBegin, tileEnd);

    public override void Dispose()
    {
        _codes.Dispose();
        _superScales.Dispose();
        _subScales.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// Q6_K's scales for the kernels: per chunk of a tile, the scales of its two sub-blocks (d * sc per row, float products
/// as ggml computes them) and a chunk's contribution
/// float(dotLow - 32 * xLow) * (scaleLow * xScale) + float(dotHigh - 32 * xHigh) * (scaleHigh * xScale).
/// </summary>
internal unsafe struct Q6KChunkScales : IChunkScales
{
    private readonly ushort* _superScales;
    private readonly sbyte* _subScales;
    private readonly int _superBlocks;
    private readonly int _subBlocks;
    private Vector256<float> _scaleLow;
    private Vector256<float> _scaleHigh;
    private SuperBlockHalves _superScale;

    public Q6KChunkScales(ushort* superScales, sbyte* subScales, int columns)
    {
        _superScales = superScales;
        _subScales = subScales;
        _superBlocks = columns / Q6KMatrix.SuperBlock;
        _subBlocks = columns / 16;
    }

    /// <summary>Row <paramref name="row"/>'s scale d * sc of sub-block <paramref name="subBlock"/> (16 values).</summary>
    public readonly float Scale(int row, int subBlock)
    {
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows;
        float d = (float)BitConverter.UInt16BitsToHalf(_superScales[((long)tile * _superBlocks + subBlock / 16) * Int4Matrix.TileRows + r]);
        return d * _subScales[((long)tile * _subBlocks + subBlock) * Int4Matrix.TileRows + r];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginChunk(int tile, int chunk)
    {
        var d = _superScale.Get(_superScales, (long)tile * _superBlocks + chunk / 8);
        sbyte* sub = _subScales + ((long)tile * _subBlocks + 2 * chunk) * Int4Matrix.TileRows;
        _scaleLow = d * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(sub));
        _scaleHigh = d * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(sub + Int4Matrix.TileRows));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rowsLow, Vector256<int> rowsHigh, float xScale, int xLow, int xSum, Vector256<float> acc)
    {
        var xs = Vector256.Create(xScale);
        var low = Avx.ConvertToVector256Single(rowsLow - Vector256.Create(32 * xLow)) * (_scaleLow * xs);
        var high = Avx.ConvertToVector256Single(rowsHigh - Vector256.Create(32 * (xSum - xLow))) * (_scaleHigh * xs);
        return acc + (low + high);
    }

    public readonly float Contribution(int row, int chunk, int dotLow, int dotHigh, float xScale, int xLow, int xSum)
    {
        float low = (float)(dotLow - 32 * xLow) * (Scale(row, 2 * chunk) * xScale);
        float high = (float)(dotHigh - 32 * (xSum - xLow)) * (Scale(row, 2 * chunk + 1) * xScale);
        return low + high;
    }
}
