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
/// nibbles (16..31), whose scales a row keeps side by side, so a kernel weighs the two halves' sums with one load. Per
/// row and super-block: 128 + 64 bytes of codes, 16 of scales, 2 of d (6.56 bits a value, as in the file). Activations
/// are always INT8, in blocks of 32; a product is computed as ggml's dot product does, in integers per sub-block
/// (<see cref="Q6KChunkScales"/>).
/// </summary>
public sealed unsafe class Q6KMatrix : Int8TileMatrix, IGgmlBlockRows
{
    public const int SuperBlock = 256;

    /// <summary>Bytes of one Q6_K block in a GGUF file: 128 bytes of low bits, 64 of high bits, 16 scales, FP16 d.</summary>
    public const int BlockBytes = 210;

    private const int SubBlock = 16;

    private readonly HighBitsCodes _codes;
    private readonly NativeBuffer _superScales; // [tile][super-block][8 rows] FP16 d
    private readonly NativeBuffer _subScales;   // [tile][chunk][8 rows][2 sub-blocks] sbyte sc

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
    [MethodImpl(LoadLoops.Compile)]
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
                ((sbyte*)_subScales.Pointer)[Q6KChunkScales.SubScaleIndex(tile, Columns / SubBlock, r, s * (SuperBlock / SubBlock) + sub)] = (sbyte)block[192 + sub];
            for (int c = 0; c < SuperBlock / Int4Matrix.ChunkSize; c++)
                _codes.SetChunk(row, s * (SuperBlock / Int4Matrix.ChunkSize) + c, codes.Slice(c * Int4Matrix.ChunkSize, Int4Matrix.ChunkSize));
        }
    }

    /// <summary>The 256 6-bit codes of one Q6_K block, in value order (ggml's dequantization order).</summary>
    [MethodImpl(LoadLoops.Compile)]
    private static void Codes(ReadOnlySpan<byte> block, Span<byte> codes)
    {
        var nibble = Vector256.Create((byte)0x0F);
        var twoBits = Vector256.Create((byte)3);
        for (int half = 0; half < 2; half++)
        {
            // 32 values at a time: ql's bytes l and l + 32 give four values' low nibbles, qh's byte l their bits 4-5.
            var low0 = Vector256.Create(block.Slice(64 * half, 32));
            var low1 = Vector256.Create(block.Slice(64 * half + 32, 32));
            var high = Vector256.Create(block.Slice(128 + 32 * half, 32));
            var values = codes.Slice(128 * half);
            ((low0 & nibble) | Vector256.ShiftLeft(high & twoBits, 4)).CopyTo(values);
            ((low1 & nibble) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(high, 2) & twoBits, 4)).CopyTo(values[32..]);
            (Vector256.ShiftRightLogical(low0, 4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(high, 4) & twoBits, 4)).CopyTo(values[64..]);
            (Vector256.ShiftRightLogical(low1, 4) | Vector256.ShiftLeft(Vector256.ShiftRightLogical(high, 6), 4)).CopyTo(values[96..]);
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
/// Q6_K's scales for the kernels, with ggml's integer arithmetic: per chunk of 32 (two sub-blocks of 16) a row's
/// integer sc_low * (dotLow - 32 * xLow) + sc_high * (dotHigh - 32 * xHigh) (at most 2 x 16 x 32 x 127 x 128, below
/// 2^24, so exact in float too), times d * xScale once: fma(float(that), d * xScale, acc), fused on every path and in
/// the reference (one rounding and one operation fewer: 24.2 -> 24.6 GB/s at one token). The kernels weigh the 16-bit
/// pair sums by the sub-block scales in the multiply-add that widens them (vpmaddwd against the scales instead of
/// against 1), which gives one row integer a chunk, and the offsets of 32 come from one more vpmaddwd of the scale pairs
/// with (xLow, xHigh). ggml converts once per super-block; here the activations have a scale per 32 values, so once per
/// chunk rather than once per sub-block. The figures are in <see cref="HighBitsMatMul"/>'s notes.
/// </summary>
internal unsafe struct Q6KChunkScales : IChunkScales
{
    private readonly ushort* _superScales;
    private readonly sbyte* _subScales;
    private readonly int _superBlocks;
    private readonly int _subBlocks;
    private Vector256<float> _d;
    private Vector256<short> _offsetWeights; // 32 * (sc_low, sc_high) per row
    private Vector512<short> _lowWeights;    // sc_low in each of row r's four words of 64-bit lane r
    private Vector512<short> _highWeights;
    private Vector256<short> _low03, _low47, _high03, _high47; // the same for the AVX2 kernel: rows 0-3, rows 4-7
    private SuperBlockHalves _superScale;
    private Vector512<float> _dPair;          // _d and _offsetWeights with each row twice, for two tokens
    private Vector512<short> _offsetWeightPairs;

    public Q6KChunkScales(ushort* superScales, sbyte* subScales, int columns)
    {
        _superScales = superScales;
        _subScales = subScales;
        _superBlocks = columns / Q6KMatrix.SuperBlock;
        _subBlocks = columns / 16;
    }

    /// <summary>Where row r (of a tile) keeps the scale of sub-block <paramref name="subBlock"/>: the two of a chunk side by side.</summary>
    internal static long SubScaleIndex(int tile, int subBlocks, int r, int subBlock) =>
        ChunkPairs(tile, subBlocks / 2, subBlock / 2) + r * 2 + subBlock % 2;

    /// <summary>Where a tile's 16 scales (8 rows' pairs) of chunk <paramref name="chunk"/> start.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long ChunkPairs(int tile, int chunks, int chunk) => ((long)tile * chunks + chunk) * 2 * Int4Matrix.TileRows;

    private readonly int SubScale(int row, int subBlock) =>
        _subScales[SubScaleIndex(row / Int4Matrix.TileRows, _subBlocks, row % Int4Matrix.TileRows, subBlock)];

    private readonly float D(int row, int superBlock) =>
        (float)BitConverter.UInt16BitsToHalf(_superScales[((long)(row / Int4Matrix.TileRows) * _superBlocks + superBlock) * Int4Matrix.TileRows + row % Int4Matrix.TileRows]);

    /// <summary>Row <paramref name="row"/>'s scale d * sc of sub-block <paramref name="subBlock"/> (16 values), the float product ggml's dequantization takes.</summary>
    public readonly float Scale(int row, int subBlock) => D(row, subBlock / 16) * SubScale(row, subBlock);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginChunk(int tile, int chunk)
    {
        _d = _superScale.Get(_superScales, (long)tile * _superBlocks + chunk / 8);
        sbyte* subScales = _subScales + ChunkPairs(tile, _subBlocks / 2, chunk);
        var pairs = Avx2.ConvertToVector256Int16(subScales);
        _offsetWeights = pairs << 5;
        if (Avx512BW.IsSupported)
        {
            var wide = pairs.ToVector512Unsafe();
            _lowWeights = Avx512BW.PermuteVar32x16(wide, Vector512.Create((short)0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6, 8, 8, 8, 8, 10, 10, 10, 10, 12, 12, 12, 12, 14, 14, 14, 14));
            _highWeights = Avx512BW.PermuteVar32x16(wide, Vector512.Create((short)1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7, 9, 9, 9, 9, 11, 11, 11, 11, 13, 13, 13, 13, 15, 15, 15, 15));
            // The AVX2 kernel (a forced path) reads these; the AVX-512 kernel does not, and the JIT drops them there.
            (_low03, _low47, _high03, _high47) = (_lowWeights.GetLower(), _lowWeights.GetUpper(), _highWeights.GetLower(), _highWeights.GetUpper());
        }
        else
        {
            var bytes = Vector128.Load((byte*)subScales);
            (_low03, _low47, _high03, _high47) = (Spread(bytes, 0), Spread(bytes, 8), Spread(bytes, 1), Spread(bytes, 9));
        }
    }

    /// <summary>Scales first, first + 2, first + 4 and first + 6 of 16 (four rows' one sub-block), each in four words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Spread(Vector128<byte> scales, byte first)
    {
        var index = Vector128.Create(first, first, first, first, (byte)(first + 2), (byte)(first + 2), (byte)(first + 2), (byte)(first + 2),
            (byte)(first + 4), (byte)(first + 4), (byte)(first + 4), (byte)(first + 4), (byte)(first + 6), (byte)(first + 6), (byte)(first + 6), (byte)(first + 6));
        return Avx2.ConvertToVector256Int16(Ssse3.Shuffle(scales, index).AsSByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<int> RowSums512(Vector512<short> sumLow, Vector512<short> sumHigh) =>
        Int4MatMul.LanePairs(Avx512BW.MultiplyAddAdjacent(sumLow, _lowWeights) + Avx512BW.MultiplyAddAdjacent(sumHigh, _highWeights));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<int> PairRowSums512(Vector512<short> lowA, Vector512<short> highA, Vector512<short> lowB, Vector512<short> highB) =>
        Int4MatMul.TokenLanePairs(Avx512BW.MultiplyAddAdjacent(lowA, _lowWeights) + Avx512BW.MultiplyAddAdjacent(highA, _highWeights),
            Avx512BW.MultiplyAddAdjacent(lowB, _lowWeights) + Avx512BW.MultiplyAddAdjacent(highB, _highWeights));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginPairs()
    {
        _dPair = TokenPair.EachRowTwice(_d);
        _offsetWeightPairs = TokenPair.EachRowTwice(_offsetWeights.AsInt32()).AsInt16();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<float> CombineChunkPair(Vector512<int> rows, float* xScales, int* xSums, int* xHalfSumPairs, Vector512<float> acc)
    {
        var offsets = Avx512BW.MultiplyAddAdjacent(_offsetWeightPairs, TokenPair.Of(xHalfSumPairs).AsInt16());
        return Vector512.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(rows - offsets), _dPair * TokenPair.Of(xScales), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<int> RowSums256(Vector256<short> low03, Vector256<short> low47, Vector256<short> high03, Vector256<short> high47) =>
        Int4MatMul.RowSums(Avx2.MultiplyAddAdjacent(low03, _low03) + Avx2.MultiplyAddAdjacent(high03, _high03),
            Avx2.MultiplyAddAdjacent(low47, _low47) + Avx2.MultiplyAddAdjacent(high47, _high47));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rows, float xScale, int xLow, int xSum, Vector256<float> acc)
    {
        // (xLow, xHigh) as the two words of each dword: each at most 16 x 127 in magnitude.
        var halves = Vector256.Create((xLow & 0xFFFF) | (xSum - xLow) << 16).AsInt16();
        var offsets = Avx2.MultiplyAddAdjacent(_offsetWeights, halves);
        return Vector256.FusedMultiplyAdd(Avx.ConvertToVector256Single(rows - offsets), _d * Vector256.Create(xScale), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void PortableAccumulate(int tile, int chunk, int* dotLow, int* dotHigh, float xScale, int xLow, int xSum, float* acc)
    {
        ushort* d = _superScales + ((long)tile * _superBlocks + chunk / 8) * Int4Matrix.TileRows;
        sbyte* pairs = _subScales + ChunkPairs(tile, _subBlocks / 2, chunk); // row r's two sub-block scales at 2r, 2r + 1
        var xs = Vector128.Create(xScale);
        var lowOffset = Vector128.Create(32 * xLow);
        var highOffset = Vector128.Create(32 * (xSum - xLow));
        for (int half = 0; half < 2; half++, acc += 4, dotLow += 4, dotHigh += 4, d += 4, pairs += 8)
        {
            var lowScales = Vector128.Create((int)pairs[0], pairs[2], pairs[4], pairs[6]);
            var highScales = Vector128.Create((int)pairs[1], pairs[3], pairs[5], pairs[7]);
            var dot = lowScales * (Vector128.Load(dotLow) - lowOffset) + highScales * (Vector128.Load(dotHigh) - highOffset);
            Vector128.FusedMultiplyAdd(Vector128.ConvertToSingle(dot), Ops.HalfConversion.ToSingle4(d) * xs, Vector128.Load(acc)).Store(acc);
        }
    }

    public readonly float Accumulate(int row, int chunk, int dotLow, int dotHigh, float xScale, int xLow, int xSum, float acc)
    {
        int dot = SubScale(row, 2 * chunk) * (dotLow - 32 * xLow) + SubScale(row, 2 * chunk + 1) * (dotHigh - 32 * (xSum - xLow));
        return MathF.FusedMultiplyAdd(dot, D(row, chunk / 8) * xScale, acc);
    }
}
