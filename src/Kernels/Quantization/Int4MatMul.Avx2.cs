using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// AVX2: per chunk, four 32-byte loads hold the tile's eight rows, two rows per load (one per 128-bit half).
    /// "AND 0x0F" gives both rows' weights 0..15 and ">> 4" their weights 16..31; multiplied by the activations 0..15
    /// and 16..31 (each broadcast to both halves) and added, each half holds one row's partial sums. Four registers
    /// accumulate the tile's eight rows, and at the end of an activation block a short tree of unpacks and adds turns
    /// them into one vector of eight row sums, which is scaled and added to the tile's result.
    /// The group's FP16 scales are converted once per group, and the loops walk groups and blocks by pointer, so no
    /// division or reload of the view's fields happens inside them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx2(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result, bool vnni)
    {
        if (vnni) TileInt8AvxVnni(w, tile, x, xScales, xSums, result);
        else if (w.GroupSize == Int4Matrix.ChunkSize) TileInt8Avx2OneChunk(w, tile, x, xScales, xSums, result);
        else TileInt8Avx2Blocks(w, tile, x, xScales, xSums, result);
    }

    /// <summary>
    /// How far ahead of the chunk in hand the kernels ask for weights (24 chunks). The hardware prefetcher alone
    /// leaves a single core's GEMV at about 0.75-0.8 of the read bandwidth because the arithmetic between loads
    /// limits how many misses are in flight. Measured with `bench -- gemv`: 1 KiB ahead 0.86-0.96; 2 KiB 0.89-1.0
    /// but g128 (less arithmetic per byte, so less lead time) at 0.82-0.89 on two threads; 3 KiB 0.91-1.03 for both.
    /// </summary>
    internal const int PrefetchDistance = 3072;

    /// <summary>Asks for the two cache lines of the chunk <see cref="PrefetchDistance"/> bytes past <paramref name="chunk"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchChunk(byte* chunk)
    {
        Sse.Prefetch0(chunk + PrefetchDistance);
        Sse.Prefetch0(chunk + PrefetchDistance + 64);
    }

    /// <summary>
    /// Groups of one chunk (group size 32, the Q4_0 layout), so one block per group: the 16-bit partial sums go
    /// straight into a 16-bit tree.
    /// An element of the tree's last level sums 16 products of at most 15 x 128 = 30720, so it cannot overflow.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileInt8Avx2OneChunk(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        byte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        byte* zeros = w.Zeros == null ? null : w.TileZeros(tile, 0);
        int groups = w.Groups;
        var mask = Vector256.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        for (int g = 0; g < groups; g++, p += Int4Matrix.ChunkBytes, x += Int4Matrix.ChunkSize, scales += Int4Matrix.TileRows)
        {
            PrefetchChunk(p);
            var xa = Avx2.BroadcastVector128ToVector256(x);
            var xb = Avx2.BroadcastVector128ToVector256(x + 16);
            var sums = RowSums16(
                RowPair16(Vector256.Load(p), mask, xa, xb),
                RowPair16(Vector256.Load(p + 32), mask, xa, xb),
                RowPair16(Vector256.Load(p + 64), mask, xa, xb),
                RowPair16(Vector256.Load(p + 96), mask, xa, xb));
            var scale = Ops.HalfConversion.ToSingle8(scales) * Vector256.Create(xScales[g]);
            acc = CombineBlock(sums, scale, xSums + g, zeros == null ? null : zeros + g * Int4Matrix.TileRows, acc);
        }
        acc.Store(result);
    }

    /// <summary>
    /// Blocks of several chunks (group sizes 64 and 128, per-channel): 16-bit accumulation across the block's chunks
    /// (at most 4 chunks of 4 products of at most 15 x 128 per element), widened by vpmaddwd, then a 32-bit tree.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileInt8Avx2Blocks(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        byte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        byte* zeros = w.Zeros == null ? null : w.TileZeros(tile, 0);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        var mask = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((short)1);
        var acc = Vector256<float>.Zero;
        int b = 0;
        for (int g = 0; g < groups; g++, scales += Int4Matrix.TileRows)
        {
            var groupScale = Ops.HalfConversion.ToSingle8(scales);
            byte* groupZeros = zeros == null ? null : zeros + g * Int4Matrix.TileRows;
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                Vector256<short> a01 = default, a23 = default, a45 = default, a67 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes, x += Int4Matrix.ChunkSize)
                {
                    PrefetchChunk(p);
                    var xa = Avx2.BroadcastVector128ToVector256(x);
                    var xb = Avx2.BroadcastVector128ToVector256(x + 16);
                    a01 += RowPair16(Vector256.Load(p), mask, xa, xb);
                    a23 += RowPair16(Vector256.Load(p + 32), mask, xa, xb);
                    a45 += RowPair16(Vector256.Load(p + 64), mask, xa, xb);
                    a67 += RowPair16(Vector256.Load(p + 96), mask, xa, xb);
                }
                var sums = RowSums32(Avx2.MultiplyAddAdjacent(a01, ones), Avx2.MultiplyAddAdjacent(a23, ones),
                    Avx2.MultiplyAddAdjacent(a45, ones), Avx2.MultiplyAddAdjacent(a67, ones));
                acc = CombineBlock(sums, groupScale * Vector256.Create(xScales[b]), xSums + b, groupZeros, acc);
            }
        }
        acc.Store(result);
    }

    /// <summary>AVX-VNNI: vpdpbusd accumulates each row pair's products straight into 32-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileInt8AvxVnni(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        byte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        byte* zeros = w.Zeros == null ? null : w.TileZeros(tile, 0);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        var mask = Vector256.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        int b = 0;
        for (int g = 0; g < groups; g++, scales += Int4Matrix.TileRows)
        {
            var groupScale = Ops.HalfConversion.ToSingle8(scales);
            byte* groupZeros = zeros == null ? null : zeros + g * Int4Matrix.TileRows;
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                Vector256<int> a01 = default, a23 = default, a45 = default, a67 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes, x += Int4Matrix.ChunkSize)
                {
                    PrefetchChunk(p);
                    var xa = Avx2.BroadcastVector128ToVector256(x);
                    var xb = Avx2.BroadcastVector128ToVector256(x + 16);
                    a01 = RowPairVnni(a01, Vector256.Load(p), mask, xa, xb);
                    a23 = RowPairVnni(a23, Vector256.Load(p + 32), mask, xa, xb);
                    a45 = RowPairVnni(a45, Vector256.Load(p + 64), mask, xa, xb);
                    a67 = RowPairVnni(a67, Vector256.Load(p + 96), mask, xa, xb);
                }
                var sums = RowSums32(a01, a23, a45, a67);
                acc = CombineBlock(sums, groupScale * Vector256.Create(xScales[b]), xSums + b, groupZeros, acc);
            }
        }
        acc.Store(result);
    }

    /// <summary>
    /// Two rows' products with one chunk of activations, as 16-bit pair sums: the lower half holds the first row's
    /// eight partial sums, the upper half the second row's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> RowPair16(Vector256<byte> v, Vector256<byte> mask, Vector256<sbyte> xa, Vector256<sbyte> xb) =>
        Avx2.MultiplyAddAdjacent(v & mask, xa) + Avx2.MultiplyAddAdjacent(High(v, mask), xb);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> RowPairVnni(Vector256<int> acc, Vector256<byte> v, Vector256<byte> mask, Vector256<sbyte> xa, Vector256<sbyte> xb) =>
        AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(acc, v & mask, xa), High(v, mask), xb);

    /// <summary>The high nibbles of each byte, as bytes 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v, Vector256<byte> mask) => Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;

    /*
     * Row-sum trees. Input: four row-pair registers, the lower 128-bit half of register p holding row 2p's partial
     * sums and the upper half row 2p+1's. Level 1 interleaves registers p01 and p23 (and p45, p67) and adds, leaving
     * rows 0, 2 (1, 3) alternating in each half; level 2 interleaves 64-bit quarters and adds, leaving rows 0, 2, 4, 6
     * in the lower half and 1, 3, 5, 7 in the upper; one vpermd puts them in order.
     */

    /// <summary>vpermd control that takes rows 0, 2, 4, 6 | 1, 3, 5, 7 to 0..7 (a constant, not a static field, so no class-init check).</summary>
    private static Vector256<int> RowOrder
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);
    }

    /// <summary>The tree on 16-bit elements (levels 1 and 2 interleave 32- and 64-bit units), widened by vpmaddwd at the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> RowSums16(Vector256<short> p01, Vector256<short> p23, Vector256<short> p45, Vector256<short> p67)
    {
        var t = Avx2.UnpackLow(p01.AsInt32(), p23.AsInt32()).AsInt16() + Avx2.UnpackHigh(p01.AsInt32(), p23.AsInt32()).AsInt16();
        var u = Avx2.UnpackLow(p45.AsInt32(), p67.AsInt32()).AsInt16() + Avx2.UnpackHigh(p45.AsInt32(), p67.AsInt32()).AsInt16();
        var rows = Avx2.UnpackLow(t.AsInt64(), u.AsInt64()).AsInt16() + Avx2.UnpackHigh(t.AsInt64(), u.AsInt64()).AsInt16();
        return Avx2.PermuteVar8x32(Avx2.MultiplyAddAdjacent(rows, Vector256.Create((short)1)), RowOrder);
    }

    /// <summary>The tree on 32-bit elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> RowSums32(Vector256<int> p01, Vector256<int> p23, Vector256<int> p45, Vector256<int> p67)
    {
        var t = Avx2.UnpackLow(p01, p23) + Avx2.UnpackHigh(p01, p23);
        var u = Avx2.UnpackLow(p45, p67) + Avx2.UnpackHigh(p45, p67);
        var rows = Avx2.UnpackLow(t.AsInt64(), u.AsInt64()).AsInt32() + Avx2.UnpackHigh(t.AsInt64(), u.AsInt64()).AsInt32();
        return Avx2.PermuteVar8x32(rows, RowOrder);
    }

    /// <summary>
    /// acc + float(rowSums - zero * xSum) * scale, lane by lane, in the reference's order (scale is the weights'
    /// scale times the block's activation scale). Symmetric weights (zeros null) have the zero point 8 in every row,
    /// so the correction is one broadcast and a shift.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> CombineBlock(Vector256<int> rowSums, Vector256<float> scale, int* xSum, byte* zeros, Vector256<float> acc)
    {
        var xs = Vector256.Create(*xSum);
        var corrected = zeros == null ? rowSums - (xs << 3) : rowSums - Avx2.ConvertToVector256Int32(zeros) * xs;
        return acc + Avx.ConvertToVector256Single(corrected) * scale;
    }

    /// <summary>FP32 activations: nibbles widened to int32 and to float, multiplied with x by FMA, summed per group.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileFloat32Avx2(in Int4View w, int tile, float* x, float* groupSums, float* result)
    {
        byte* tq = w.Tile(tile);
        int chunksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        var mask = Vector256.Create((byte)0x0F);
        Span<Vector256<float>> sums = stackalloc Vector256<float>[Int4Matrix.TileRows];
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int g = 0; g < w.Groups; g++)
        {
            sums.Clear();
            for (int c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; c++)
            {
                float* xc = x + c * 32;
                var x0 = Vector256.Load(xc);
                var x1 = Vector256.Load(xc + 8);
                var x2 = Vector256.Load(xc + 16);
                var x3 = Vector256.Load(xc + 24);
                for (int pair = 0; pair < 4; pair++)
                {
                    // Lower halves: row 2 x pair's weights 0..15 (low nibbles) and 16..31 (high); upper halves: the next row's.
                    var v = Vector256.Load(tq + (long)c * Int4Matrix.ChunkBytes + pair * 32);
                    var low = v & mask;
                    var high = High(v, mask);
                    sums[2 * pair] = Accumulate32(sums[2 * pair], low.GetLower(), high.GetLower(), x0, x1, x2, x3);
                    sums[2 * pair + 1] = Accumulate32(sums[2 * pair + 1], low.GetUpper(), high.GetUpper(), x0, x1, x2, x3);
                }
            }
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                result[r] += HalfToFloat(scales[r]) * (Vector256.Sum(sums[r]) - zero * groupSums[g]);
            }
        }
    }

    /// <summary>sum + one row's 32 weights (0..15 in <paramref name="low"/>, 16..31 in <paramref name="high"/>) times x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate32(Vector256<float> sum, Vector128<byte> low, Vector128<byte> high,
        Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3)
    {
        sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(low)), x0, sum);
        sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(low, 8))), x1, sum);
        sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(high)), x2, sum);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(high, 8))), x3, sum);
    }
}
