using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// The two-level scales of ggml's Q4_K and Q5_K, unpacked for the kernels: per row and super-block of 256 an FP16
/// scale d and minimum dmin, per row and group of 32 a 6-bit scale sc and minimum m (a byte each, so no kernel unpacks
/// ggml's 12-byte packing); value = (d * sc) * code - dmin * m, each product in float as ggml computes it. Laid out
/// [tile][super-block or group][8 rows], so a kernel loads a tile's eight rows at once.
/// </summary>
internal sealed unsafe class KQuantScaleTable : IDisposable
{
    public const int SuperBlock = 256;

    private const int GroupsPerSuperBlock = SuperBlock / Int4Matrix.ChunkSize;

    private readonly NativeBuffer _superScales; // FP16 d
    private readonly NativeBuffer _superMins;   // FP16 dmin
    private readonly NativeBuffer _groupScales; // byte sc
    private readonly NativeBuffer _groupMins;   // byte m
    private readonly int _columns;

    public KQuantScaleTable(int tiles, int columns)
    {
        long tileRows = (long)tiles * Int4Matrix.TileRows;
        _columns = columns;
        // Zeroed: padding rows have scale 0 and minimum 0, so they compute 0.
        _superScales = new NativeBuffer(tileRows * (columns / SuperBlock) * sizeof(ushort));
        _superMins = new NativeBuffer(tileRows * (columns / SuperBlock) * sizeof(ushort));
        _groupScales = new NativeBuffer(tileRows * (columns / Int4Matrix.ChunkSize));
        _groupMins = new NativeBuffer(tileRows * (columns / Int4Matrix.ChunkSize));
    }

    public long ByteLength => _superScales.ByteLength + _superMins.ByteLength + _groupScales.ByteLength + _groupMins.ByteLength;

    public KQuantGroupScales Groups => new((ushort*)_superScales.Pointer, (ushort*)_superMins.Pointer,
        (byte*)_groupScales.Pointer, (byte*)_groupMins.Pointer, _columns);

    /// <summary>
    /// Stores row <paramref name="row"/>'s scales of super-block <paramref name="superBlock"/> from the first 16 bytes of
    /// its ggml block: FP16 d, FP16 dmin, then the 12-byte packing of eight 6-bit (scale, min) pairs.
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public void SetSuperBlock(int row, int superBlock, ReadOnlySpan<byte> header)
    {
        if (header.Length < 16) throw new ArgumentException("A K-quant block starts with 16 bytes of scales.", nameof(header));
        int tile = row / Int4Matrix.TileRows, r = row % Int4Matrix.TileRows;
        int superBlocks = _columns / SuperBlock, groups = _columns / Int4Matrix.ChunkSize;
        long line = ((long)tile * superBlocks + superBlock) * Int4Matrix.TileRows + r;
        ref byte h = ref MemoryMarshal.GetReference(header);
        ((ushort*)_superScales.Pointer)[line] = Unsafe.ReadUnaligned<ushort>(ref h);
        ((ushort*)_superMins.Pointer)[line] = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref h, 2));
        var (scales, mins) = Unpack(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref h, 4)), Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref h, 8)),
            Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref h, 12)));
        // Group j of the super-block lies eight bytes (one per row of the tile) after group j - 1.
        long groupLine = ((long)tile * groups + superBlock * GroupsPerSuperBlock) * Int4Matrix.TileRows + r;
        byte* scaleBytes = (byte*)_groupScales.Pointer + groupLine, minBytes = (byte*)_groupMins.Pointer + groupLine;
        for (int j = 0; j < GroupsPerSuperBlock; j++, scales >>= 8, mins >>= 8)
        {
            scaleBytes[j * Int4Matrix.TileRows] = (byte)scales;
            minBytes[j * Int4Matrix.TileRows] = (byte)mins;
        }
    }

    /// <summary>
    /// ggml's 12-byte packing of eight 6-bit (scale, min) pairs, read as three little-endian words a, b, c (bytes 0-3,
    /// 4-7, 8-11), unpacked four pairs a word at a time: the eight scales and the eight minimums, byte j of each the
    /// pair of group j. Pairs 0-3 are the low six bits of a (scales) and b (minimums); pairs 4-7 take their low four
    /// bits from c (scales the low nibbles, minimums the high) and their top two from the top bits of a and b. Done a
    /// pair at a time with a span's bounds checks, this was as slow as the rest of a Q4_K row's repacking.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (ulong Scales, ulong Mins) Unpack(uint a, uint b, uint c)
    {
        const uint SixBits = 0x3F3F3F3F, LowNibbles = 0x0F0F0F0F, TopTwoBits = 0x03030303;
        uint scalesLow = a & SixBits, minsLow = b & SixBits;
        uint scalesHigh = (c & LowNibbles) | (((a >> 6) & TopTwoBits) << 4);
        uint minsHigh = ((c >> 4) & LowNibbles) | (((b >> 6) & TopTwoBits) << 4);
        return (scalesLow | (ulong)scalesHigh << 32, minsLow | (ulong)minsHigh << 32);
    }

    public void Dispose()
    {
        _superScales.Dispose();
        _superMins.Dispose();
        _groupScales.Dispose();
        _groupMins.Dispose();
    }
}

/// <summary>
/// A <see cref="KQuantScaleTable"/> for the kernels: group g of a tile has scale d * sc and minimum dmin * m per row
/// (float products, as ggml computes them), and a block of 32 contributes
/// float(dot) * (scale * xScale) - (min * xScale) * float(xSum). Q4_K's codes go through the INT4 tile kernels
/// (<see cref="IGroupScales"/>), Q5_K's through the high-bit kernels (<see cref="IChunkScales"/>, the two half dots added).
/// </summary>
internal unsafe struct KQuantGroupScales : IScaleMinGroups, IChunkScales
{
    private readonly ushort* _superScales;
    private readonly ushort* _superMins;
    private readonly byte* _groupScales;
    private readonly byte* _groupMins;
    private readonly int _superBlocks;
    private readonly int _groups;
    private Vector256<float> _scale;
    private Vector256<float> _min;
    private Vector512<float> _scalePair;
    private Vector512<float> _minPair;
    private SuperBlockHalves _superScale;
    private SuperBlockHalves _superMin;

    public KQuantGroupScales(ushort* superScales, ushort* superMins, byte* groupScales, byte* groupMins, int columns)
    {
        _superScales = superScales;
        _superMins = superMins;
        _groupScales = groupScales;
        _groupMins = groupMins;
        _superBlocks = columns / KQuantScaleTable.SuperBlock;
        _groups = columns / Int4Matrix.ChunkSize;
    }

    private const int GroupsPerSuperBlock = KQuantScaleTable.SuperBlock / Int4Matrix.ChunkSize;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginGroup(int tile, int group)
    {
        long superBlock = (long)tile * _superBlocks + group / GroupsPerSuperBlock;
        long groupLine = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        _scale = _superScale.Get(_superScales, superBlock) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(_groupScales + groupLine));
        _min = _superMin.Get(_superMins, superBlock) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(_groupMins + groupLine));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PermuteRows(Vector256<int> order)
    {
        _scale = Avx2.PermuteVar8x32(_scale, order);
        _min = Avx2.PermuteVar8x32(_min, order);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void BeginPairs()
    {
        _scalePair = TokenPair.EachRowTwice(_scale);
        _minPair = TokenPair.EachRowTwice(_min);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int* xSum, Vector256<float> acc) => Combine(rowSums, xScale, *xSum, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly Vector256<float> Combine(Vector256<int> rowSums, float xScale, int xSum, Vector256<float> acc)
    {
        var xs = Vector256.Create(xScale);
        return acc + (Avx.ConvertToVector256Single(rowSums) * (_scale * xs) - _min * xs * Vector256.Create((float)xSum));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<float> CombinePair(Vector512<int> rowSums, float* xScales, int* xSums, Vector512<float> acc)
    {
        var xs = TokenPair.Of(xScales);
        return acc + (Avx512F.ConvertToVector512Single(rowSums) * (_scalePair * xs)
            - _minPair * xs * Avx512F.ConvertToVector512Single(TokenPair.Of(xSums)));
    }

    /// <remarks>A pair starts at an even group, so both groups lie in one super-block (eight groups each).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> CombineBlockPair(int tile, int group, Vector512<int> rowSums, float* xScales, int* xSums, Vector256<float> acc)
    {
        long superBlock = (long)tile * _superBlocks + group / GroupsPerSuperBlock;
        long groupLine = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        var scale = BlockPair.Twice(_superScale.Get(_superScales, superBlock))
            * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(_groupScales + groupLine)));
        var min = BlockPair.Twice(_superMin.Get(_superMins, superBlock))
            * Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Vector128.Load(_groupMins + groupLine)));
        return BlockPair.AddScaleMin(rowSums, scale, min, xScales, xSums, acc);
    }

    /// <summary>
    /// Where tile <paramref name="tile"/>'s scales start, for a kernel that walks them in order: FP16 d and dmin, eight
    /// rows a super-block; byte sc and m, eight rows a group.
    /// </summary>
    public readonly void Tile(int tile, out ushort* superScales, out ushort* superMins, out byte* groupScales, out byte* groupMins)
    {
        long superLine = (long)tile * _superBlocks * Int4Matrix.TileRows, groupLine = (long)tile * _groups * Int4Matrix.TileRows;
        superScales = _superScales + superLine;
        superMins = _superMins + superLine;
        groupScales = _groupScales + groupLine;
        groupMins = _groupMins + groupLine;
    }

    public void BeginChunk(int tile, int chunk) => BeginGroup(tile, chunk);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<int> RowSums512(Vector512<short> sumLow, Vector512<short> sumHigh) => ChunkSums.Plain512(sumLow, sumHigh);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<int> PairRowSums512(Vector512<short> lowA, Vector512<short> highA, Vector512<short> lowB, Vector512<short> highB) =>
        ChunkSums.PlainPair512(lowA, highA, lowB, highB);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector512<float> CombineChunkPair(Vector512<int> rows, float* xScales, int* xSums, int* xHalfSumPairs, Vector512<float> acc) =>
        CombinePair(rows, xScales, xSums, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<int> RowSums256(Vector256<short> low03, Vector256<short> low47, Vector256<short> high03, Vector256<short> high47) =>
        ChunkSums.Plain256(low03, low47, high03, high47);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly Vector256<float> Combine(Vector256<int> rows, float xScale, int xLow, int xSum, Vector256<float> acc) =>
        Combine(rows, xScale, xSum, acc);

    public readonly float Accumulate(int row, int chunk, int dotLow, int dotHigh, float xScale, int xLow, int xSum, float acc)
    {
        var (scale, min) = Row(row, chunk);
        return acc + ((float)(dotLow + dotHigh) * (scale * xScale) - min * xScale * (float)xSum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void PortableAccumulate(int tile, int chunk, int* dotLow, int* dotHigh, float xScale, int xLow, int xSum, float* acc)
    {
        PortableRows(tile, chunk, out var scaleLow, out var scaleHigh, out var minLow, out var minHigh);
        var xs = Vector128.Create(xScale);
        var sum = Vector128.Create((float)xSum);
        PortableScaleMin.Add(Vector128.Load(dotLow) + Vector128.Load(dotHigh), scaleLow, minLow, xs, sum, acc);
        PortableScaleMin.Add(Vector128.Load(dotLow + 4) + Vector128.Load(dotHigh + 4), scaleHigh, minHigh, xs, sum, acc + 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void PortableRows(int tile, int group, out Vector128<float> scaleLow, out Vector128<float> scaleHigh, out Vector128<float> minLow, out Vector128<float> minHigh)
    {
        long superLine = ((long)tile * _superBlocks + group / GroupsPerSuperBlock) * Int4Matrix.TileRows;
        long groupLine = ((long)tile * _groups + group) * Int4Matrix.TileRows;
        scaleLow = Ops.HalfConversion.ToSingle4(_superScales + superLine) * PortableBytes.ToSingle4(_groupScales + groupLine);
        scaleHigh = Ops.HalfConversion.ToSingle4(_superScales + superLine + 4) * PortableBytes.ToSingle4(_groupScales + groupLine + 4);
        minLow = Ops.HalfConversion.ToSingle4(_superMins + superLine) * PortableBytes.ToSingle4(_groupMins + groupLine);
        minHigh = Ops.HalfConversion.ToSingle4(_superMins + superLine + 4) * PortableBytes.ToSingle4(_groupMins + groupLine + 4);
    }

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
