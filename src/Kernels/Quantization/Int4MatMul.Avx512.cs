using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// AVX-512 BW: a 64-byte load holds four rows, one per 128-bit quarter; "AND 0x0F" gives their weights 0..15 and
    /// ">> 4" their weights 16..31, multiplied by the activations 0..15 and 16..31 broadcast to every quarter. Two
    /// registers accumulate the tile's eight rows; at the end of a block their 256-bit halves are exactly the AVX2
    /// path's row-pair registers, and the same tree finishes. (.NET exposes no 512-bit VNNI, so vpdpbusd is not used.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx512(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        byte* p = w.Tile(tile);
        ushort* scales = w.TileScales(tile, 0);
        byte* zeros = w.Zeros == null ? null : w.TileZeros(tile, 0);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        var mask = Vector512.Create((byte)0x0F);
        var ones = Vector512.Create((short)1);
        var acc = Vector256<float>.Zero;
        int b = 0;
        for (int g = 0; g < groups; g++, scales += Int4Matrix.TileRows)
        {
            var groupScale = Ops.HalfConversion.ToSingle8(scales);
            byte* groupZeros = zeros == null ? null : zeros + g * Int4Matrix.TileRows;
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                // 16-bit accumulation as in the AVX2 path: at most 4 chunks of 4 products of at most 15 x 128 per element.
                Vector512<short> a0123 = default, a4567 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes, x += Int4Matrix.ChunkSize)
                {
                    PrefetchChunk(p);
                    var xa = Avx512F.BroadcastVector128ToVector512((int*)x).AsSByte();
                    var xb = Avx512F.BroadcastVector128ToVector512((int*)(x + 16)).AsSByte();
                    var v0 = Vector512.Load(p);
                    var v1 = Vector512.Load(p + 64);
                    a0123 += Avx512BW.MultiplyAddAdjacent(v0 & mask, xa) + Avx512BW.MultiplyAddAdjacent(High(v0, mask), xb);
                    a4567 += Avx512BW.MultiplyAddAdjacent(v1 & mask, xa) + Avx512BW.MultiplyAddAdjacent(High(v1, mask), xb);
                }
                var w0123 = Avx512BW.MultiplyAddAdjacent(a0123, ones);
                var w4567 = Avx512BW.MultiplyAddAdjacent(a4567, ones);
                var sums = RowSums32(w0123.GetLower(), w0123.GetUpper(), w4567.GetLower(), w4567.GetUpper());
                acc = CombineBlock(sums, groupScale * Vector256.Create(xScales[b]), xSums + b, groupZeros, acc);
            }
        }
        acc.Store(result);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> High(Vector512<byte> v, Vector512<byte> mask) => Avx512BW.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;

    /// <summary>FP32 activations: 16 nibbles at a time widened (vpmovzxbd) to floats and multiplied with x by FMA.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileFloat32Avx512(in Int4View w, int tile, float* x, float* groupSums, float* result)
    {
        byte* tq = w.Tile(tile);
        int chunksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        var mask = Vector256.Create((byte)0x0F);
        Span<Vector512<float>> sums = stackalloc Vector512<float>[Int4Matrix.TileRows];
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int g = 0; g < w.Groups; g++)
        {
            sums.Clear();
            for (int c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; c++)
            {
                var x0 = Vector512.Load(x + c * 32);
                var x1 = Vector512.Load(x + c * 32 + 16);
                for (int pair = 0; pair < 4; pair++)
                {
                    // Lower halves: row 2 x pair's weights 0..15 (low nibbles) and 16..31 (high); upper halves: the next row's.
                    var v = Vector256.Load(tq + (long)c * Int4Matrix.ChunkBytes + pair * 32);
                    var lo = v & mask;
                    var hi = High(v, mask);
                    sums[2 * pair] = Avx512F.FusedMultiplyAdd(ToFloats(lo.GetLower()), x0, sums[2 * pair]);
                    sums[2 * pair] = Avx512F.FusedMultiplyAdd(ToFloats(hi.GetLower()), x1, sums[2 * pair]);
                    sums[2 * pair + 1] = Avx512F.FusedMultiplyAdd(ToFloats(lo.GetUpper()), x0, sums[2 * pair + 1]);
                    sums[2 * pair + 1] = Avx512F.FusedMultiplyAdd(ToFloats(hi.GetUpper()), x1, sums[2 * pair + 1]);
                }
            }
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                result[r] += HalfToFloat(scales[r]) * (Vector512.Sum(sums[r]) - zero * groupSums[g]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ToFloats(Vector128<byte> bytes) => Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(bytes));
}
