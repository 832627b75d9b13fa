using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// AVX2: per chunk, four 32-byte loads give the tile's eight rows (low and high nibbles); each row's int8 dot
    /// product accumulates in its own register: int32 lanes through vpdpbusd (AVX-VNNI), or 16-bit lanes through
    /// vpmaddubsw, widened by one vpmaddwd per block.
    /// At the end of a block a horizontal-add tree turns the eight registers into one vector of eight row sums.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx2(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result, bool vnni)
    {
        int blocks = w.KPadded / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        byte* p = w.Tile(tile);
        var mask = Vector256.Create((byte)0x0F);
        var acc = Vector256<float>.Zero;
        var ones = Vector256.Create((short)1);
        for (int b = 0; b < blocks; b++)
        {
            sbyte* xb = x + b * w.BlockSize;
            Vector256<int> sums;
            if (vnni)
            {
                Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes)
                {
                    var xv = Vector256.Load(xb + c * 32);
                    var v0 = Vector256.Load(p);
                    var v1 = Vector256.Load(p + 32);
                    var v2 = Vector256.Load(p + 64);
                    var v3 = Vector256.Load(p + 96);
                    a0 = AvxVnni.MultiplyWideningAndAdd(a0, v0 & mask, xv);
                    a1 = AvxVnni.MultiplyWideningAndAdd(a1, High(v0, mask), xv);
                    a2 = AvxVnni.MultiplyWideningAndAdd(a2, v1 & mask, xv);
                    a3 = AvxVnni.MultiplyWideningAndAdd(a3, High(v1, mask), xv);
                    a4 = AvxVnni.MultiplyWideningAndAdd(a4, v2 & mask, xv);
                    a5 = AvxVnni.MultiplyWideningAndAdd(a5, High(v2, mask), xv);
                    a6 = AvxVnni.MultiplyWideningAndAdd(a6, v3 & mask, xv);
                    a7 = AvxVnni.MultiplyWideningAndAdd(a7, High(v3, mask), xv);
                }
                sums = RowSums(a0, a1, a2, a3, a4, a5, a6, a7);
            }
            else
            {
                // vpmaddubsw pairs sum to at most 2 x 15 x 127 = 3810, so up to 8 chunks (a block has at most 4)
                // accumulate in 16-bit lanes; one vpmaddwd per row and block widens them.
                Vector256<short> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes)
                {
                    var xv = Vector256.Load(xb + c * 32);
                    var v0 = Vector256.Load(p);
                    var v1 = Vector256.Load(p + 32);
                    var v2 = Vector256.Load(p + 64);
                    var v3 = Vector256.Load(p + 96);
                    a0 += Avx2.MultiplyAddAdjacent(v0 & mask, xv);
                    a1 += Avx2.MultiplyAddAdjacent(High(v0, mask), xv);
                    a2 += Avx2.MultiplyAddAdjacent(v1 & mask, xv);
                    a3 += Avx2.MultiplyAddAdjacent(High(v1, mask), xv);
                    a4 += Avx2.MultiplyAddAdjacent(v2 & mask, xv);
                    a5 += Avx2.MultiplyAddAdjacent(High(v2, mask), xv);
                    a6 += Avx2.MultiplyAddAdjacent(v3 & mask, xv);
                    a7 += Avx2.MultiplyAddAdjacent(High(v3, mask), xv);
                }
                sums = RowSums(Avx2.MultiplyAddAdjacent(a0, ones), Avx2.MultiplyAddAdjacent(a1, ones), Avx2.MultiplyAddAdjacent(a2, ones),
                    Avx2.MultiplyAddAdjacent(a3, ones), Avx2.MultiplyAddAdjacent(a4, ones), Avx2.MultiplyAddAdjacent(a5, ones),
                    Avx2.MultiplyAddAdjacent(a6, ones), Avx2.MultiplyAddAdjacent(a7, ones));
            }
            int g = b * w.BlockSize / w.GroupSize;
            acc = CombineBlock(w, tile, g, sums, xScales[b], xSums[b], acc);
        }
        acc.Store(result);
    }

    /// <summary>The high nibbles of each byte, as bytes 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v, Vector256<byte> mask) => Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;

    /// <summary>Eight 8-lane accumulators (one per row) to one vector whose lane r is row r's total.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> RowSums(Vector256<int> a0, Vector256<int> a1, Vector256<int> a2, Vector256<int> a3,
        Vector256<int> a4, Vector256<int> a5, Vector256<int> a6, Vector256<int> a7)
    {
        var h0123 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a0, a1), Avx2.HorizontalAdd(a2, a3));
        var h4567 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a4, a5), Avx2.HorizontalAdd(a6, a7));
        return Avx2.Permute2x128(h0123, h4567, 0x20) + Avx2.Permute2x128(h0123, h4567, 0x31);
    }

    /// <summary>acc + float(rowSums - zero * xSum) * (scale * xScale), lane by lane, in the reference's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> CombineBlock(in Int4View w, int tile, int group, Vector256<int> rowSums, float xScale, int xSum, Vector256<float> acc)
    {
        // Symmetric: the zero point is 8 for every row, so the correction is one broadcast (no vpmulld).
        var corrected = w.Zeros == null
            ? rowSums - Vector256.Create(8 * xSum)
            : rowSums - Avx2.ConvertToVector256Int32(w.TileZeros(tile, group)) * Vector256.Create(xSum);
        var scale = Ops.HalfConversion.ToSingle8(w.TileScales(tile, group)) * Vector256.Create(xScale);
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
                    var v = Vector256.Load(tq + (long)c * Int4Matrix.ChunkBytes + pair * 32);
                    sums[2 * pair] = Accumulate32(sums[2 * pair], v & mask, x0, x1, x2, x3);
                    sums[2 * pair + 1] = Accumulate32(sums[2 * pair + 1], High(v, mask), x0, x1, x2, x3);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate32(Vector256<float> sum, Vector256<byte> q, Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3)
    {
        var low = q.GetLower();
        var high = q.GetUpper();
        sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(low)), x0, sum);
        sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(low, 8))), x1, sum);
        sum = Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(high)), x2, sum);
        return Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(high, 8))), x3, sum);
    }
}
