using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// AVX2 GEMM step: one tile for two tokens at once. The weights' loads, nibble unpacking and scale conversion are
    /// shared by both tokens, which is most of a GEMV's work besides the multiplies; each token's arithmetic is the
    /// single-token kernel's, in the same order, so the results are identical bit for bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx2TwoTokens(in Int4View w, int tile, sbyte* x0, sbyte* x1, float* xScales0, float* xScales1,
        int* xSums0, int* xSums1, float* result0, float* result1)
    {
        if (w.GroupSize == Int4Matrix.ChunkSize) TileInt8Avx2OneChunkTwoTokens(w, tile, x0, x1, xScales0, xScales1, xSums0, xSums1, result0, result1);
        else TileInt8Avx2BlocksTwoTokens(w, tile, x0, x1, xScales0, xScales1, xSums0, xSums1, result0, result1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileInt8Avx2OneChunkTwoTokens(in Int4View w, int tile, sbyte* x0, sbyte* x1, float* xScales0, float* xScales1,
        int* xSums0, int* xSums1, float* result0, float* result1)
    {
        byte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        byte* zeros = w.Zeros == null ? null : w.TileZeros(tile, 0);
        int groups = w.Groups;
        var mask = Vector256.Create((byte)0x0F);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        for (int g = 0; g < groups; g++, p += Int4Matrix.ChunkBytes, x0 += Int4Matrix.ChunkSize, x1 += Int4Matrix.ChunkSize, scales += Int4Matrix.TileRows)
        {
            PrefetchChunk(p);
            var xa0 = Avx2.BroadcastVector128ToVector256(x0);
            var xb0 = Avx2.BroadcastVector128ToVector256(x0 + 16);
            var xa1 = Avx2.BroadcastVector128ToVector256(x1);
            var xb1 = Avx2.BroadcastVector128ToVector256(x1 + 16);
            var v = Vector256.Load(p);
            var (lo, hi) = (v & mask, High(v, mask));
            var p01t0 = Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
            var p01t1 = Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
            v = Vector256.Load(p + 32);
            (lo, hi) = (v & mask, High(v, mask));
            var p23t0 = Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
            var p23t1 = Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
            v = Vector256.Load(p + 64);
            (lo, hi) = (v & mask, High(v, mask));
            var p45t0 = Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
            var p45t1 = Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
            v = Vector256.Load(p + 96);
            (lo, hi) = (v & mask, High(v, mask));
            var p67t0 = Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
            var p67t1 = Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
            var scale = Ops.HalfConversion.ToSingle8(scales);
            byte* groupZeros = zeros == null ? null : zeros + g * Int4Matrix.TileRows;
            acc0 = CombineBlock(RowSums16(p01t0, p23t0, p45t0, p67t0), scale * Vector256.Create(xScales0[g]), xSums0 + g, groupZeros, acc0);
            acc1 = CombineBlock(RowSums16(p01t1, p23t1, p45t1, p67t1), scale * Vector256.Create(xScales1[g]), xSums1 + g, groupZeros, acc1);
        }
        acc0.Store(result0);
        acc1.Store(result1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileInt8Avx2BlocksTwoTokens(in Int4View w, int tile, sbyte* x0, sbyte* x1, float* xScales0, float* xScales1,
        int* xSums0, int* xSums1, float* result0, float* result1)
    {
        byte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        byte* zeros = w.Zeros == null ? null : w.TileZeros(tile, 0);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        var mask = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((short)1);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int b = 0;
        for (int g = 0; g < groups; g++, scales += Int4Matrix.TileRows)
        {
            var groupScale = Ops.HalfConversion.ToSingle8(scales);
            byte* groupZeros = zeros == null ? null : zeros + g * Int4Matrix.TileRows;
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                Vector256<short> a01t0 = default, a23t0 = default, a45t0 = default, a67t0 = default;
                Vector256<short> a01t1 = default, a23t1 = default, a45t1 = default, a67t1 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes, x0 += Int4Matrix.ChunkSize, x1 += Int4Matrix.ChunkSize)
                {
                    PrefetchChunk(p);
                    var xa0 = Avx2.BroadcastVector128ToVector256(x0);
                    var xb0 = Avx2.BroadcastVector128ToVector256(x0 + 16);
                    var xa1 = Avx2.BroadcastVector128ToVector256(x1);
                    var xb1 = Avx2.BroadcastVector128ToVector256(x1 + 16);
                    var v = Vector256.Load(p);
                    var (lo, hi) = (v & mask, High(v, mask));
                    a01t0 += Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
                    a01t1 += Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
                    v = Vector256.Load(p + 32);
                    (lo, hi) = (v & mask, High(v, mask));
                    a23t0 += Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
                    a23t1 += Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
                    v = Vector256.Load(p + 64);
                    (lo, hi) = (v & mask, High(v, mask));
                    a45t0 += Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
                    a45t1 += Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
                    v = Vector256.Load(p + 96);
                    (lo, hi) = (v & mask, High(v, mask));
                    a67t0 += Avx2.MultiplyAddAdjacent(lo, xa0) + Avx2.MultiplyAddAdjacent(hi, xb0);
                    a67t1 += Avx2.MultiplyAddAdjacent(lo, xa1) + Avx2.MultiplyAddAdjacent(hi, xb1);
                }
                var sums0 = RowSums32(Avx2.MultiplyAddAdjacent(a01t0, ones), Avx2.MultiplyAddAdjacent(a23t0, ones),
                    Avx2.MultiplyAddAdjacent(a45t0, ones), Avx2.MultiplyAddAdjacent(a67t0, ones));
                var sums1 = RowSums32(Avx2.MultiplyAddAdjacent(a01t1, ones), Avx2.MultiplyAddAdjacent(a23t1, ones),
                    Avx2.MultiplyAddAdjacent(a45t1, ones), Avx2.MultiplyAddAdjacent(a67t1, ones));
                acc0 = CombineBlock(sums0, groupScale * Vector256.Create(xScales0[b]), xSums0 + b, groupZeros, acc0);
                acc1 = CombineBlock(sums1, groupScale * Vector256.Create(xScales1[b]), xSums1 + b, groupZeros, acc1);
            }
        }
        acc0.Store(result0);
        acc1.Store(result1);
    }
}
