using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /// <summary>
    /// AVX-512 BW: a 64-byte load covers two row pairs, so "AND 0x0F" gives rows 0 and 2 in the two halves of one
    /// register and ">> 4" rows 1 and 3. The activations are repeated in both halves, and vpmaddubsw + vpmaddwd
    /// accumulate two rows per 512-bit register. (.NET exposes no 512-bit VNNI, so vpdpbusd is not used here.)
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx512(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        int blocks = w.KPadded / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        byte* p = w.Tile(tile);
        var mask = Vector512.Create((byte)0x0F);
        var ones = Vector512.Create((short)1);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            // 16-bit accumulation as in the AVX2 path: a block has at most 4 chunks, each pair sum at most 3810.
            Vector512<short> a02 = default, a13 = default, a46 = default, a57 = default;
            sbyte* xb = x + b * w.BlockSize;
            for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes)
            {
                var x256 = Vector256.Load(xb + c * 32);
                var xv = Vector512.Create(x256, x256);
                var v0 = Vector512.Load(p);
                var v1 = Vector512.Load(p + 64);
                a02 += Avx512BW.MultiplyAddAdjacent(v0 & mask, xv);
                a13 += Avx512BW.MultiplyAddAdjacent(High(v0, mask), xv);
                a46 += Avx512BW.MultiplyAddAdjacent(v1 & mask, xv);
                a57 += Avx512BW.MultiplyAddAdjacent(High(v1, mask), xv);
            }
            var w02 = Avx512BW.MultiplyAddAdjacent(a02, ones);
            var w13 = Avx512BW.MultiplyAddAdjacent(a13, ones);
            var w46 = Avx512BW.MultiplyAddAdjacent(a46, ones);
            var w57 = Avx512BW.MultiplyAddAdjacent(a57, ones);
            var sums = RowSums(w02.GetLower(), w13.GetLower(), w02.GetUpper(), w13.GetUpper(),
                               w46.GetLower(), w57.GetLower(), w46.GetUpper(), w57.GetUpper());
            int g = b * w.BlockSize / w.GroupSize;
            acc = CombineBlock(w, tile, g, sums, xScales[b], xSums[b], acc);
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
                    var v = Vector256.Load(tq + (long)c * Int4Matrix.ChunkBytes + pair * 32);
                    var lo = v & mask;
                    var hi = High(v, mask);
                    sums[2 * pair] = Avx512F.FusedMultiplyAdd(ToFloats(lo.GetLower()), x0, sums[2 * pair]);
                    sums[2 * pair] = Avx512F.FusedMultiplyAdd(ToFloats(lo.GetUpper()), x1, sums[2 * pair]);
                    sums[2 * pair + 1] = Avx512F.FusedMultiplyAdd(ToFloats(hi.GetLower()), x0, sums[2 * pair + 1]);
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
