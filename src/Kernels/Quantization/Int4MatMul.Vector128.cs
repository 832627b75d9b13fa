using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /*
     * Portable 128-bit INT8 kernel (SSE2 on x86, AdvSimd on ARM64): 8 rows x T tokens (T = 4, 2, 1) a pass. A chunk of
     * a tile keeps each row's 16 bytes as 8 in its first 64-byte half and 8 in its second, so one 16-byte load of a
     * half holds a row pair's bytes; "AND 0x0F" and ">> 4" give the pair's weights 0-7 and 16-23 (first half), 8-15
     * and 24-31 (second), widened to 16 bits: row 2p in the lower widening, 2p + 1 in the upper. Each token's 32
     * activations of the chunk are widened to four 16-bit octets once per row pair and multiplied with both rows'
     * octets (the products fit: 15 x 128 = 1920, a chunk's four of them 7680), and a row's 16-bit sums run over a whole
     * block (at most four chunks, Int4Geometry's largest block being 128 values: 30720 < 32767). At the end of a block
     * each row's eight lanes are added into one exact integer, four rows at once (PortableLanes), and the format turns
     * the 8 x T integers into its contribution (IPortableCombine).
     * The weights of a chunk are loaded and unpacked once per row pair for all T tokens, where the kernel before
     * this one took one row and one token at a time and widened the activations again for every row.
     * Registers: T = 4 keeps 2 x 4 accumulators, 8 widened weight vectors and 4 activation octets live (20): within
     * ARM64's 32, over x64's 16 (some spill there; x64 with SSE only is a rare machine).
     * Measured on an AMD Zen 5 core with the path forced (`tile-l2 100`, 64 tokens from cache, GOPS, best of 100
     * rounds, three alternated pairs): group size 32, the kernel before this one 5.7-9.4, this one with at most two
     * tokens a call 32.2-33.1, with four 36.5-37.5; group size 128: 8.6-12.7, 43.1-44.2, 47.9-49.7. The FP16 scales
     * widened four at a time (HalfConversion.ToSingle4) instead of one by one took group size 32 from 20.4-23.4 to
     * 29.8-30.5 in an earlier spell. No ARM64 machine was at hand to measure there.
     */
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Vector128<T, C>(in Int4View w, ref C combine, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where C : struct, IPortableCombine
    {
        byte* tileBase = w.Tile(tile);
        int blocks = w.KPadded / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        int stride = x.Stride;
        int* dots = stackalloc int[Int4Matrix.TileRows * T.Value]; // [token][row]
        new Span<float>(result, Int4Matrix.TileRows * T.Value).Clear();
        var mask = Vector128.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            byte* block = tileBase + (long)b * chunksPerBlock * Int4Matrix.ChunkBytes;
            sbyte* xBlock = x.Values + b * w.BlockSize;
            // Rows 0-3, then 4-7: two row pairs each, whose sums one pairwise add turns into the four rows' dots.
            for (int quad = 0; quad < 2; quad++)
            {
                Vector128<int> h0 = default, h1 = default, h2 = default, h3 = default;
                for (int pair = 2 * quad; pair < 2 * quad + 2; pair++)
                {
                    Vector128<short> e0 = default, o0 = default, e1 = default, o1 = default, e2 = default, o2 = default, e3 = default, o3 = default;
                    for (int c = 0; c < chunksPerBlock; c++)
                    {
                        byte* chunk = block + c * Int4Matrix.ChunkBytes + pair * 2 * Int4Matrix.RowHalfBytes;
                        var first = Vector128.Load(chunk);
                        var second = Vector128.Load(chunk + Int4Matrix.HalfChunkBytes);
                        var q0 = first & mask;                              // weights 0-7 of both rows
                        var q2 = Vector128.ShiftRightLogical(first, 4);     // 16-23
                        var q1 = second & mask;                             // 8-15
                        var q3 = Vector128.ShiftRightLogical(second, 4);    // 24-31
                        var w0e = Vector128.WidenLower(q0).AsInt16(); var w0o = Vector128.WidenUpper(q0).AsInt16();
                        var w1e = Vector128.WidenLower(q1).AsInt16(); var w1o = Vector128.WidenUpper(q1).AsInt16();
                        var w2e = Vector128.WidenLower(q2).AsInt16(); var w2o = Vector128.WidenUpper(q2).AsInt16();
                        var w3e = Vector128.WidenLower(q3).AsInt16(); var w3o = Vector128.WidenUpper(q3).AsInt16();
                        sbyte* xc = xBlock + c * Int4Matrix.ChunkSize;
                        RowPairProducts(xc, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, ref e0, ref o0);
                        if (T.Value > 1) RowPairProducts(xc + stride, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, ref e1, ref o1);
                        if (T.Value > 2) RowPairProducts(xc + 2 * stride, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, ref e2, ref o2);
                        if (T.Value > 2) RowPairProducts(xc + 3 * stride, w0e, w0o, w1e, w1o, w2e, w2o, w3e, w3o, ref e3, ref o3);
                    }
                    // The first pair's partial sums wait in h; the second's join them into the four rows' dots.
                    bool second4 = pair == 2 * quad + 1;
                    h0 = PortableLanes.PairDots(h0, e0, o0, second4);
                    if (T.Value > 1) h1 = PortableLanes.PairDots(h1, e1, o1, second4);
                    if (T.Value > 2) h2 = PortableLanes.PairDots(h2, e2, o2, second4);
                    if (T.Value > 2) h3 = PortableLanes.PairDots(h3, e3, o3, second4);
                }
                int* quadDots = dots + 4 * quad;
                h0.Store(quadDots);
                if (T.Value > 1) h1.Store(quadDots + Int4Matrix.TileRows);
                if (T.Value > 2) h2.Store(quadDots + 2 * Int4Matrix.TileRows);
                if (T.Value > 2) h3.Store(quadDots + 3 * Int4Matrix.TileRows);
            }
            combine.AddBlock(tile, b, dots, x, T.Value, result);
        }
    }

    /// <summary>
    /// One token's 16-bit products with a row pair's chunk added to the pair's sums: the token's 32 activations widened
    /// to four octets, each multiplied with both rows' weights of that octet.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowPairProducts(sbyte* x, Vector128<short> w0e, Vector128<short> w0o, Vector128<short> w1e, Vector128<short> w1o,
        Vector128<short> w2e, Vector128<short> w2o, Vector128<short> w3e, Vector128<short> w3o, ref Vector128<short> even, ref Vector128<short> odd)
    {
        PortableLanes.WidenOctets(x, out var x0, out var x1, out var x2, out var x3);
        even += w0e * x0 + w1e * x1 + w2e * x2 + w3e * x3;
        odd += w0o * x0 + w1o * x1 + w2o * x2 + w3o * x3;
    }

    /// <summary>FP32 activations, 4 lanes at a time.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileFloat32Vector128(in Int4View w, int tile, float* x, float* groupSums, float* result)
    {
        byte* tq = w.Tile(tile);
        int chunksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        var mask = Vector128.Create((byte)0x0F);
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int g = 0; g < w.Groups; g++)
        {
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                var sum = Vector128<float>.Zero;
                for (int c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; c++)
                {
                    var v = Int4View.RowChunk(tq + (long)c * Int4Matrix.ChunkBytes, r);
                    for (int half = 0; half < 2; half++)
                    {
                        var q = half == 0 ? v & mask : Vector128.ShiftRightLogical(v, 4);
                        float* xc = x + c * 32 + half * 16;
                        var lo = Vector128.WidenLower(q);
                        var hi = Vector128.WidenUpper(q);
                        sum += Vector128.ConvertToSingle(Vector128.WidenLower(lo).AsInt32()) * Vector128.Load(xc);
                        sum += Vector128.ConvertToSingle(Vector128.WidenUpper(lo).AsInt32()) * Vector128.Load(xc + 4);
                        sum += Vector128.ConvertToSingle(Vector128.WidenLower(hi).AsInt32()) * Vector128.Load(xc + 8);
                        sum += Vector128.ConvertToSingle(Vector128.WidenUpper(hi).AsInt32()) * Vector128.Load(xc + 12);
                    }
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                result[r] += HalfToFloat(scales[r]) * (Vector128.Sum(sum) - zero * groupSums[g]);
            }
        }
    }
}
