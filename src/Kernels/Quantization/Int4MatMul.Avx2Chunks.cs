using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /*
     * AVX2, blocks of one chunk (groups of 32: ggml's Q4_0, Q4_1, Q4_K) and two or more tokens. A block ends after
     * every chunk, so the general AVX2 kernel (TileInt8Avx2) pays its end of block, the row sums and the combine with
     * the scales, once per chunk and token, and its 16 registers cannot hold two tokens' 16-bit, 32-bit and float
     * accumulators next to the eight unpacked weight registers: the JIT spilled accumulators on every chunk.
     *
     * Here nothing is carried from one chunk to the next in registers: each token's products with the chunk's eight
     * unpacked weight registers are summed, widened, reduced to eight row sums and combined with the scales at once,
     * into that token's eight float results, which stay in L1 (the result buffer) between chunks. The registers then
     * hold the unpacked chunk, four activation broadcasts and two 16-bit sums, so the chunk's unpacking and each
     * group's scale conversion serve T tokens without spills.
     *
     * The end of a block is the expensive part of a chunk. Reducing each row's four 16-bit sums with two vpmaddwd, a
     * vphaddd (several operations on Zen 3, one every two cycles) and a vpermd to put the rows back in order costs
     * about as much as the chunk's eight vpmaddubsw. Here the 16-bit sums two apart are added, rows 0-3 and 4-7
     * blended into one register and one vpmaddwd widens and adds: the rows come out interleaved (0, 4, 1, 5, ...),
     * the group's scales are put in that order once per group and each token's results back in row order once per
     * call. The arithmetic is the reference's, in its order.
     *
     * Measured on one AMD Zen 3 core (256 x 2048, symmetric groups of 32, 64 tokens, activation quantization
     * included, variants alternated in one process, fastest of 300 rounds): the general kernel 77 GOPS, this one 106
     * (with vphaddd and vpermd per block 104; with the rows left in vphaddd's order, in a C model of the loop, 146
     * against 158 for the interleaved rows). Unrolling the token loop by two changed nothing. A 512-token prefill of
     * TinyLlama-1.1B at two threads: Q4_0 51-56 -> 76-83 tokens per second, Q4_K_M 41 -> 59.
     *
     * Processors with AVX-VNNI but not AVX-512 take this kernel too: there the general kernel's vpdpbusd saves the
     * widening, but a block still ends per chunk. On an AMD Zen 5 core with AVX-512 switched off (path Avx2Vnni),
     * tile-l2 group size 32, fastest of 300 rounds, three alternated pairs: 135-149 GOPS with the AVX-VNNI general
     * kernel, 176-184 with this one; TinyLlama-1.1B Q4_0 prefill at two threads 124-140 -> 151-181 tokens per second.
     * With AVX-VNNI the row sums then come from vpdpbusd (VnniChunkRowSums), one chain of four a row half, where the
     * AVX2 sums' 16-bit adds and widening took seven more operations a token. On an Intel Xeon (Emerald Rapids) core
     * with AVX-512 switched off, alternated runs: gemm-shape 256 x 2048, 8 tokens, group size 32, best of 400 rounds
     * 101-103 -> 114-117 GOPS (two chains of two a row half, added: 108-110); tile-l2 group size 32 104-108 -> 111-122;
     * ggml-l2 64 tokens Q4_0 56-61 -> 62-87, Q4_1 55-56 -> 56-78 (three runs each, a noisy host). On that core the
     * AVX-512 kernel (TileInt8Avx512Chunks) stays faster: 133-137 GOPS on the same gemm-shape.
     */
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx2Chunks<T, S, P>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IGroupScales where P : struct, IChunkRowSums
    {
        byte* p = w.Tile(tile);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        int stride = x.Stride, blockStride = x.BlockStride;
        sbyte* xp = x.Values;
        float* xScales = x.ScalesByBlock;
        int* xSums = x.SumsByBlock;
        var mask = Vector256.Create((byte)0x0F);
        for (int t = 0; t < T.Value; t++) Vector256<float>.Zero.Store(result + t * Int4Matrix.TileRows);
        for (int g = 0; g < groups; g++)
        {
            scales.BeginGroup(tile, g);
            scales.PermuteRows(InterleavedRows);
            for (int b = 0; b < blocksPerGroup; b++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize, xScales += blockStride, xSums += blockStride)
            {
                PrefetchChunk(p);
                var (l0, h0) = Nibbles(Vector256.Load(p), mask);
                var (l2, h2) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes), mask);
                var (l1, h1) = Nibbles(Vector256.Load(p + 32), mask);
                var (l3, h3) = Nibbles(Vector256.Load(p + Int4Matrix.HalfChunkBytes + 32), mask);
                sbyte* xt = xp;
                float* acc = result;
                for (int t = 0; t < T.Value; t++, xt += stride, acc += Int4Matrix.TileRows)
                    scales.Combine(P.Interleaved(l0, h0, l2, h2, l1, h1, l3, h3, xt), xScales[t], xSums + t, Vector256.Load(acc)).Store(acc);
            }
        }
        for (int t = 0; t < T.Value; t++)
        {
            float* acc = result + t * Int4Matrix.TileRows;
            Avx2.PermuteVar8x32(Vector256.Load(acc), RowsFromInterleaved).Store(acc);
        }
    }

    /// <summary>The rows of the lanes of <see cref="IChunkRowSums"/>'s row sums: rows 0-3 and 4-7 interleaved.</summary>
    private static Vector256<int> InterleavedRows => Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7);

    /// <summary>The lanes of <see cref="InterleavedRows"/> that hold rows 0 to 7: its inverse.</summary>
    private static Vector256<int> RowsFromInterleaved => Vector256.Create(0, 2, 4, 6, 1, 3, 5, 7);

    /// <summary>
    /// One token's row sums of one chunk for <see cref="TileInt8Avx2Chunks{T, S, P}"/>, in the order of
    /// <see cref="InterleavedRows"/>, from the chunk's eight unpacked registers (rows 0-3: l0, h0, l2, h2; rows 4-7:
    /// l1, h1, l3, h3) and the token's 32 INT8 activations.
    /// </summary>
    internal interface IChunkRowSums
    {
        static abstract Vector256<int> Interleaved(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l2, Vector256<byte> h2,
            Vector256<byte> l1, Vector256<byte> h1, Vector256<byte> l3, Vector256<byte> h3, sbyte* x);
    }

    /// <summary>AVX2: the products as 16-bit sums (vpmaddubsw), reduced and widened once.</summary>
    internal readonly struct Avx2ChunkRowSums : IChunkRowSums
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Interleaved(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l2, Vector256<byte> h2,
            Vector256<byte> l1, Vector256<byte> h1, Vector256<byte> l3, Vector256<byte> h3, sbyte* x)
        {
            var rows03 = Octets(l0, h0, l2, h2, x);
            var rows47 = Octets(l1, h1, l3, h3, x);
            // Each row's four 16-bit sums, in its 64-bit lane: the pairs two apart are added (at most 30,720 in
            // magnitude), rows 0-3 keep their lane's first two words and rows 4-7 their last two, and one vpmaddwd adds
            // each pair: lanes hold rows 0, 4, 1, 5, 2, 6, 3, 7.
            var pairs03 = rows03 + Avx2.Shuffle(rows03.AsInt32(), 0b10_11_00_01).AsInt16();
            var pairs47 = rows47 + Avx2.Shuffle(rows47.AsInt32(), 0b10_11_00_01).AsInt16();
            return Avx2.MultiplyAddAdjacent(Avx2.Blend(pairs03.AsInt32(), pairs47.AsInt32(), 0b1010_1010).AsInt16(), Vector256.Create((short)1));
        }
    }

    /// <summary>
    /// AVX-VNNI: vpdpbusd adds each group of four products straight into 32-bit lanes (each row's two lanes of its
    /// 64-bit lane), so the 16-bit adds and the widening go: eight vpdpbusd, two vpshufd, two vpaddd and a blend a
    /// token, where the AVX2 sums take eight vpmaddubsw, six vpaddw, two vpshufd, two vpaddw, a blend and a vpmaddwd.
    /// The same integers, so the same results.
    /// </summary>
    internal readonly struct VnniChunkRowSums : IChunkRowSums
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Interleaved(Vector256<byte> l0, Vector256<byte> h0, Vector256<byte> l2, Vector256<byte> h2,
            Vector256<byte> l1, Vector256<byte> h1, Vector256<byte> l3, Vector256<byte> h3, sbyte* x)
        {
            var x0 = Vector256.Create(*(long*)x).AsSByte();
            var x1 = Vector256.Create(*(long*)(x + 8)).AsSByte();
            var x2 = Vector256.Create(*(long*)(x + 16)).AsSByte();
            var x3 = Vector256.Create(*(long*)(x + 24)).AsSByte();
            // One chain of four a row half: the tokens' chains are independent, so the processor overlaps them.
            var rows03 = Vnni4(l0, l2, h0, h2, x0, x1, x2, x3);
            var rows47 = Vnni4(l1, l3, h1, h3, x0, x1, x2, x3);
            var sums03 = rows03 + Avx2.Shuffle(rows03, 0b10_11_00_01);
            var sums47 = rows47 + Avx2.Shuffle(rows47, 0b10_11_00_01);
            return Avx2.Blend(sums03, sums47, 0b1010_1010);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Vnni4(Vector256<byte> a, Vector256<byte> b, Vector256<byte> c, Vector256<byte> d,
            Vector256<sbyte> xa, Vector256<sbyte> xb, Vector256<sbyte> xc, Vector256<sbyte> xd) =>
            AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(
                AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, a, xa), b, xb), c, xc), d, xd);
    }
}
