using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /*
     * AVX2, one token (decode): an 8-row tile. Per chunk, four 32-byte loads hold rows 0-3 and 4-7 of each half;
     * "AND 0x0F" and ">> 4" give, per four rows, registers of one octet of weights each, multiplied by that octet's
     * activations broadcast to every row's 64-bit lane (vpmaddubsw) and added as 16-bit sums: rows 0-3 in one
     * accumulator, rows 4-7 in another. 16-bit sums are widened (vpmaddwd by 1) every two chunks (at most 16 products of
     * at most 15 x 127 per element). At the end of an activation block, vphaddd adds each row's two 32-bit lanes and
     * one vpermd puts the eight rows in order. Two or more tokens take TileInt8Avx2ByHalves (or, on blocks of one
     * chunk, TileInt8Avx2Chunks): with eight weight registers live, AVX2's sixteen hold the accumulators of two tokens
     * at most.
     */
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx2OneToken<S>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result) where S : struct, IGroupScales
    {
        byte* p = w.Tile(tile);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        sbyte* xp = x.Values;
        var mask = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((short)1);
        Vector256<float> f0 = default;
        int b = 0;
        for (int g = 0; g < groups; g++)
        {
            scales.BeginGroup(tile, g);
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                Vector256<int> s03 = default, s47 = default;
                for (int c = 0; c < chunksPerBlock; c += 2)
                {
                    Vector256<short> a03 = default, a47 = default;
                    for (int pairEnd = Math.Min(chunksPerBlock, c + 2), i = c; i < pairEnd; i++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize)
                    {
                        PrefetchChunk(p);
                        var (l0, h0) = Nibbles(Vector256.Load(p), mask);
                        var (l2, h2) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes), mask);
                        a03 += Octets(l0, h0, l2, h2, xp);
                        var (l1, h1) = Nibbles(Vector256.Load(p + 32), mask);
                        var (l3, h3) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes + 32), mask);
                        a47 += Octets(l1, h1, l3, h3, xp);
                    }
                    s03 += Avx2.MultiplyAddAdjacent(a03, ones);
                    s47 += Avx2.MultiplyAddAdjacent(a47, ones);
                }
                f0 = scales.Combine(RowSums(s03, s47), x.Scales[b], x.Sums + b, f0);
            }
        }
        f0.Store(result);
    }

    /// <summary>
    /// AVX-VNNI, one token (decode): as <see cref="TileInt8Avx2OneToken{S}"/>, but vpdpbusd accumulates each row's products
    /// straight into 32-bit lanes, two accumulators per four rows (<see cref="OctetsVnni"/>), so four chains of two
    /// dependent vpdpbusd a chunk. One pass over each chunk, unlike <see cref="TileInt8Avx2ByHalves{T, S, P}"/>: for
    /// one token there are registers enough, and a second pass over the block cost a fifth of the speed on groups of
    /// 32 (gemv-l2 on Zen 5 with AVX-512 off, 32 -> 24 GB/s).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8AvxVnniOneToken<S>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result) where S : struct, IGroupScales
    {
        byte* p = w.Tile(tile);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        sbyte* xp = x.Values;
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> f0 = default;
        int b = 0;
        for (int g = 0; g < groups; g++)
        {
            scales.BeginGroup(tile, g);
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                Vector256<int> s03 = default, s47 = default, t03 = default, t47 = default;
                for (int c = 0; c < chunksPerBlock; c++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize)
                {
                    PrefetchChunk(p);
                    var (l0, h0) = Nibbles(Vector256.Load(p), mask);
                    var (l2, h2) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes), mask);
                    OctetsVnni(ref s03, ref t03, l0, h0, l2, h2, xp);
                    var (l1, h1) = Nibbles(Vector256.Load(p + 32), mask);
                    var (l3, h3) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes + 32), mask);
                    OctetsVnni(ref s47, ref t47, l1, h1, l3, h3, xp);
                }
                f0 = scales.Combine(RowSums(s03 + t03, s47 + t47), x.Scales[b], x.Sums + b, f0);
            }
        }
        f0.Store(result);
    }

    /// <summary>
    /// AVX2, two or more tokens (T = 4, 2) on blocks of several chunks: a block walked twice, rows 0-3 of its chunks
    /// and then rows 4-7, each pass with its four weight registers and four tokens' 32-bit accumulators
    /// (<typeparamref name="P"/> gives a pass's products: <see cref="VnniHalfBlock"/> with AVX-VNNI,
    /// <see cref="Avx2HalfBlock"/> without). In one pass over both halves, as <see cref="TileInt8Avx2OneToken{S}"/> makes,
    /// eight weight registers leave room for two tokens' accumulators only, and with four tokens the compiler kept each
    /// activation broadcast for the second half and spilled. Per chunk and token, two tokens took 6 unpacking operations
    /// (the chunk's 12 shared by two), four take 3. tile-l2 group size 128, one Zen 5 core with AVX-512 off, best of 400
    /// rounds: AVX-VNNI 194-206 GOPS with two tokens in one pass, 187-188 with four in one pass, 250-260 with four in
    /// two passes; AVX2 without VNNI 173-184 -> 202-203 (bench/README.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx2ByHalves<T, S, P>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IGroupScales where P : struct, IHalfBlockProducts
    {
        byte* p = w.Tile(tile);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        int stride = x.Stride, blocks = x.Blocks;
        sbyte* xp = x.Values;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        int b = 0;
        for (int g = 0; g < groups; g++)
        {
            scales.BeginGroup(tile, g);
            for (int end = b + blocksPerGroup; b < end; b++, p += chunksPerBlock * Int4Matrix.ChunkBytes, xp += chunksPerBlock * Int4Matrix.ChunkSize)
            {
                var (s03, t03, u03, v03) = P.Rows<T>(p, xp, stride, chunksPerBlock, prefetch: true);
                var (s47, t47, u47, v47) = P.Rows<T>(p + 32, xp, stride, chunksPerBlock, prefetch: false);
                f0 = scales.Combine(RowSums(s03, s47), x.Scales[b], x.Sums + b, f0);
                f1 = scales.Combine(RowSums(t03, t47), x.Scales[blocks + b], x.Sums + blocks + b, f1);
                if (T.Value > 2) f2 = scales.Combine(RowSums(u03, u47), x.Scales[2 * blocks + b], x.Sums + 2 * blocks + b, f2);
                if (T.Value > 2) f3 = scales.Combine(RowSums(v03, v47), x.Scales[3 * blocks + b], x.Sums + 3 * blocks + b, f3);
            }
        }
        f0.Store(result);
        f1.Store(result + Int4Matrix.TileRows);
        if (T.Value > 2) f2.Store(result + 2 * Int4Matrix.TileRows);
        if (T.Value > 2) f3.Store(result + 3 * Int4Matrix.TileRows);
    }

    /// <summary>One pass of <see cref="TileInt8Avx2ByHalves{T, S, P}"/>: four rows of a block times two or four tokens.</summary>
    internal interface IHalfBlockProducts
    {
        /// <summary>
        /// Each token's 32-bit row sums (each row in two adjacent lanes) of the four rows whose bytes start at
        /// <paramref name="p"/> in each of <paramref name="chunks"/> chunks (rows 0-3 at the chunk's start, rows 4-7 32 bytes
        /// on): each chunk's two 32-byte loads unpacked once and multiplied with every token's octets.
        /// </summary>
        static abstract (Vector256<int>, Vector256<int>, Vector256<int>, Vector256<int>) Rows<T>(byte* p, sbyte* xp, int stride, int chunks, bool prefetch)
            where T : struct, ITokenCount;
    }

    /// <summary>AVX-VNNI: vpdpbusd adds each token's products straight into 32-bit lanes.</summary>
    internal readonly struct VnniHalfBlock : IHalfBlockProducts
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector256<int>, Vector256<int>, Vector256<int>, Vector256<int>) Rows<T>(byte* p, sbyte* xp, int stride, int chunks, bool prefetch)
            where T : struct, ITokenCount
        {
            var mask = Vector256.Create((byte)0x0F);
            // Two accumulators a token (see OctetsVnni): eight chains of two dependent vpdpbusd a chunk, where one
            // accumulator a token gave four chains of four and waited on latency.
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int c = 0; c < chunks; c++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize)
            {
                if (prefetch) PrefetchChunk(p);
                var (l0, h0) = Nibbles(Vector256.Load(p), mask);
                var (l1, h1) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes), mask);
                OctetsVnni(ref a0, ref b0, l0, h0, l1, h1, xp);
                OctetsVnni(ref a1, ref b1, l0, h0, l1, h1, xp + stride);
                if (T.Value > 2) OctetsVnni(ref a2, ref b2, l0, h0, l1, h1, xp + 2 * stride);
                if (T.Value > 2) OctetsVnni(ref a3, ref b3, l0, h0, l1, h1, xp + 3 * stride);
            }
            return (a0 + b0, a1 + b1, a2 + b2, a3 + b3);
        }
    }

    /// <summary>
    /// AVX2 without VNNI: each token's four octet products of a chunk summed as 16-bit values (<see cref="Octets"/>)
    /// and widened (vpmaddwd by 1) into its 32-bit accumulator at once, where the one-pass kernel adds them to a
    /// 16-bit accumulator and widens every second chunk: the same count of operations, and no 16-bit accumulators to hold.
    /// </summary>
    internal readonly struct Avx2HalfBlock : IHalfBlockProducts
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector256<int>, Vector256<int>, Vector256<int>, Vector256<int>) Rows<T>(byte* p, sbyte* xp, int stride, int chunks, bool prefetch)
            where T : struct, ITokenCount
        {
            var mask = Vector256.Create((byte)0x0F);
            var ones = Vector256.Create((short)1);
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int c = 0; c < chunks; c++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize)
            {
                if (prefetch) PrefetchChunk(p);
                var (l0, h0) = Nibbles(Vector256.Load(p), mask);
                var (l1, h1) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes), mask);
                a0 += Avx2.MultiplyAddAdjacent(Octets(l0, h0, l1, h1, xp), ones);
                a1 += Avx2.MultiplyAddAdjacent(Octets(l0, h0, l1, h1, xp + stride), ones);
                if (T.Value > 2) a2 += Avx2.MultiplyAddAdjacent(Octets(l0, h0, l1, h1, xp + 2 * stride), ones);
                if (T.Value > 2) a3 += Avx2.MultiplyAddAdjacent(Octets(l0, h0, l1, h1, xp + 3 * stride), ones);
            }
            return (a0, a1, a2, a3);
        }
    }

    /// <summary>A 32-byte load's low and high nibbles as bytes 0..15: four rows' weights of two octets.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<byte> Low, Vector256<byte> High) Nibbles(Vector256<byte> v, Vector256<byte> mask) => (v & mask, High(v, mask));

    /// <summary>
    /// One token's products with four rows of a chunk: the octet registers of the first half (weights 0..7 low,
    /// 16..23 high) and second half (8..15 low, 24..31 high) times those octets' activations broadcast to every row's
    /// 64-bit lane, as 16-bit pair sums added together.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Octets(Vector256<byte> low0, Vector256<byte> high0, Vector256<byte> low1, Vector256<byte> high1, sbyte* x) =>
        Avx2.MultiplyAddAdjacent(low0, Vector256.Create(*(long*)x).AsSByte())
        + Avx2.MultiplyAddAdjacent(high0, Vector256.Create(*(long*)(x + 16)).AsSByte())
        + Avx2.MultiplyAddAdjacent(low1, Vector256.Create(*(long*)(x + 8)).AsSByte())
        + Avx2.MultiplyAddAdjacent(high1, Vector256.Create(*(long*)(x + 24)).AsSByte());

    /// <summary>
    /// One token's products with four rows of a chunk, as <see cref="Octets"/> gives them, added by vpdpbusd to two
    /// 32-bit accumulators: the low nibbles' octets to <paramref name="low"/>, the high nibbles' to <paramref name="high"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void OctetsVnni(ref Vector256<int> low, ref Vector256<int> high, Vector256<byte> low0, Vector256<byte> high0, Vector256<byte> low1,
        Vector256<byte> high1, sbyte* x)
    {
        low = AvxVnni.MultiplyWideningAndAdd(low, low0, Vector256.Create(*(long*)x).AsSByte());
        high = AvxVnni.MultiplyWideningAndAdd(high, high0, Vector256.Create(*(long*)(x + 16)).AsSByte());
        low = AvxVnni.MultiplyWideningAndAdd(low, low1, Vector256.Create(*(long*)(x + 8)).AsSByte());
        high = AvxVnni.MultiplyWideningAndAdd(high, high1, Vector256.Create(*(long*)(x + 24)).AsSByte());
    }

    /// <summary>
    /// Eight row sums in order from rows 0-3 and rows 4-7, each row's sum in two adjacent 32-bit lanes: vphaddd gives
    /// rows 0, 1, 4, 5 | 2, 3, 6, 7 (it adds within 128-bit halves), and vpermd restores the order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> RowSums(Vector256<int> rows03, Vector256<int> rows47) =>
        Avx2.PermuteVar8x32(Avx2.HorizontalAdd(rows03, rows47), Vector256.Create(0, 1, 4, 5, 2, 3, 6, 7));

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

    /// <summary>The high nibbles of each byte, as bytes 0..15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> High(Vector256<byte> v, Vector256<byte> mask) => Avx2.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & mask;

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
                    byte* chunk = tq + (long)c * Int4Matrix.ChunkBytes;
                    var v = Vector256.Create(Int4View.RowChunk(chunk, 2 * pair), Int4View.RowChunk(chunk, 2 * pair + 1));
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
