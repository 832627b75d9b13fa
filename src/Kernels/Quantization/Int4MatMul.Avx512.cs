using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

internal static unsafe partial class Int4MatMul
{
    /*
     * AVX-512 BW register tile: 8 rows x T tokens (T = 8, 4, 2, 1). Per chunk, two 64-byte loads hold the tile's two
     * halves; "AND 0x0F" and ">> 4" give four registers of eight rows' weights for one octet each (weights 0..7, 16..23,
     * 8..15, 24..31), which every token of the group multiplies with its activations of that octet broadcast to every
     * 64-bit lane (vpmaddubsw, then the four products added as 16-bit sums). Each row's sums stay in its own 64-bit lane.
     * 16-bit sums are widened (vpmaddwd by 1) every two chunks: an element then holds at most 16 products of at most
     * 15 x 127, 30480, below 32767. At the end of an activation block the two 32-bit lanes of each row are added and
     * narrowed to one vector of eight row sums (vpshufd, add, vpmovqd), and combined with the scales as the reference does.
     *
     * Measured on an AMD Zen 4 core (L2-resident 256 x 2048 matrix, 64 tokens, INT8 activations, GOPS): group size 32:
     * the single-token kernel of the previous layout 85, this kernel at T = 1 105, T = 4 158, T = 8 165-170; group size
     * 128: 150, 165, 240, 255. T = 8 is the largest that keeps every accumulator in registers (8 x (16-bit, 32-bit and
     * float accumulators) + 4 weight registers + constants <= 32). .NET exposes no 512-bit VNNI (vpdpbusd), so the
     * multiply-add pairs are vpmaddubsw + vpmaddwd.
     *
     * Blocks of one chunk (groups of 32: ggml's Q4_0, Q4_1, Q4_K) with two or more tokens take TileInt8Avx512Chunks
     * instead. There a block ends after every chunk, and the end of a block (narrowing eight lanes, converting,
     * scaling) cost about as much as the chunk's products: per token, 4 vpmaddubsw + 3 vpaddw + 1 vpmaddwd against
     * a vpaddd into an accumulator that starts at zero, vpshufd + vpaddd + vpmovqd, and eight 256-bit combine
     * operations. That kernel widens each token's products at once, reduces two tokens' lanes together into one
     * register (two vpermt2d and one add) and combines the pair with 512-bit operations; holding only float
     * accumulators across chunks, it takes 16 tokens, so each chunk's unpacking and each group's FP16 scale conversion
     * serve twice as many tokens. Same Zen 4 core, same matrix, 64 tokens, activation quantization included, one
     * thread, run back to back on a loaded machine (load average 20; fastest of 300 rounds): group size 32,
     * 134 GOPS before, 157 after (+17%); group size 128 unchanged at 217. ggml blocks, 128 x 4096, 64 tokens (median):
     * Q4_1 105 -> 120, Q4_K 111 -> 123. A 512-token prefill of TinyLlama-1.1B Q4_0 at one thread, tokens per second
     * of CPU time (the wall clock of a machine this loaded is not comparable): 69 -> 80 (+16%).
     * With the pair's rows interleaved (lane 2r the first token's row r, 2r + 1 the second's) and the activations'
     * block scales and sums also stored by block, a pair's scales and sums are one 64-bit broadcast each instead of
     * two broadcasts and an insert: group size 32, 157 -> 164 GOPS; ggml-l2 Q4_1 117 -> 126, Q4_K 123 -> 129.
     * Both together, bench/compare.sh --types q4_0 --quick --threads 1 (load average 6): pp512 llama.cpp 62.7 and
     * LlmCpu 68.7 t/s before (1.10x), 62.2 and 80.5 after (1.29x).
     * Later, the pair's 16-bit sums gathered and added before one widening (TokenWordPairs: two vpermt2w, vpaddw,
     * vpmaddwd, where widening each token and two vpermt2d and a vpaddd took five operations) and the combine's last
     * multiply and add fused on every path: tile-l2 group size 32, 164 -> 166 (fused) -> 173-174 GOPS, three
     * alternated runs each; gemv-l2 group size 32 (one token, the general kernel) 23.0-23.2 -> 23.6-23.8 GB/s.
     * Intel's cores split vpermt2w into several micro-operations; there the older order (widen each register, then
     * two vpermt2d) measured faster, so the reduction is chosen per vendor (PairReduction, with the figures).
     * One token with groups of 32 (decode on Q4_0) takes TileInt8Avx512BlockPairs: two blocks' sums in one register,
     * both groups' scales converted at once, the combine in 512-bit halves added to the accumulator one block after the
     * other: gemv-l2 group size 32, 23.4 -> 27.3 GB/s (three alternated runs each, all alike); `profile` of
     * tinyllama-1.1b-q4_0.gguf at two threads, gate_up 40.1 -> 43.9 GB/s, tokens per second bound 60.9 -> 65.6.
     * The same kernel for the formats with a scale and a minimum per group: ggml-l2 one token, Q4_K 20.8-21.2 ->
     * 25.1-25.3 GB/s, Q4_1 21.6-21.9 -> 26.0 (two alternated runs each).
     * The general kernel (activation blocks of several chunks: groups of 64, 128, whole rows) with two or more tokens
     * combines a token pair at a time too: at the end of a block two vpermt2d and a vpaddd reduce the pair's lanes to
     * interleaved row sums (TokenLanePairs) and one 512-bit combine serves both, where each token was narrowed
     * (vpshufd, vpaddd, vpmovqd) and combined in 256 bits. On a Zen 4 core this measured no faster (tile-l2 group size
     * 128: 217 -> 212-216 GOPS). On an AMD Zen 5 core (EPYC family 26 model 2, full-width 512-bit units), alternated
     * runs: tile-l2 group size 128 363 -> 390-398 GOPS (best of 300 rounds, three pairs); batch-profile of
     * tinyllama-1.1b-int4-g128.llmc, 8 sequences at two threads, 182-186 -> 195-199 tokens/s (three pairs, a loaded
     * host). Zen 4 runs a 512-bit operation as two 256-bit halves, the likely reason only Zen 5 gains.
     * Not kept: prefetching the first 128 or 384 KB of the next matrix while attention and the norms run (decode
     * 59-62 -> 55-60 tokens/s); a token block small enough for L1 (16 tokens x 1024 columns) runs no faster than
     * 64 x 5632 from L2, so the kernel is bound by its operations, not by cache.
     */
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx512<T, S>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IGroupScales
    {
        byte* p = w.Tile(tile);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        int stride = x.Stride, blockStride = x.BlockStride;
        sbyte* xp = x.Values;
        // One token combines alone; two or more combine a pair at a time from the by-block copies, where a token's
        // next one follows it (see TokenLanePairs).
        float* xScales = T.Value == 1 ? x.Scales : x.ScalesByBlock;
        int* xSums = T.Value == 1 ? x.Sums : x.SumsByBlock;
        var mask = Vector512.Create((byte)0x0F);
        var ones = Vector512.Create((short)1);
        Vector256<float> f0 = default;
        Vector512<float> f01 = default, f23 = default, f45 = default, f67 = default;
        int b = 0;
        for (int g = 0; g < groups; g++)
        {
            scales.BeginGroup(tile, g);
            if (T.Value > 1) scales.BeginPairs();
            for (int end = b + blocksPerGroup; b < end; b++)
            {
                Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
                for (int c = 0; c < chunksPerBlock; c += 2)
                {
                    Vector512<short> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (int pairEnd = Math.Min(chunksPerBlock, c + 2), i = c; i < pairEnd; i++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize)
                    {
                        LoadChunk(p, mask, out var l0, out var h0, out var l1, out var h1);
                        a0 += Octets(l0, h0, l1, h1, xp);
                        if (T.Value > 1) a1 += Octets(l0, h0, l1, h1, xp + stride);
                        if (T.Value > 2) a2 += Octets(l0, h0, l1, h1, xp + 2 * stride);
                        if (T.Value > 2) a3 += Octets(l0, h0, l1, h1, xp + 3 * stride);
                        if (T.Value > 4) a4 += Octets(l0, h0, l1, h1, xp + 4 * stride);
                        if (T.Value > 4) a5 += Octets(l0, h0, l1, h1, xp + 5 * stride);
                        if (T.Value > 4) a6 += Octets(l0, h0, l1, h1, xp + 6 * stride);
                        if (T.Value > 4) a7 += Octets(l0, h0, l1, h1, xp + 7 * stride);
                    }
                    s0 += Avx512BW.MultiplyAddAdjacent(a0, ones);
                    if (T.Value > 1) s1 += Avx512BW.MultiplyAddAdjacent(a1, ones);
                    if (T.Value > 2) s2 += Avx512BW.MultiplyAddAdjacent(a2, ones);
                    if (T.Value > 2) s3 += Avx512BW.MultiplyAddAdjacent(a3, ones);
                    if (T.Value > 4) s4 += Avx512BW.MultiplyAddAdjacent(a4, ones);
                    if (T.Value > 4) s5 += Avx512BW.MultiplyAddAdjacent(a5, ones);
                    if (T.Value > 4) s6 += Avx512BW.MultiplyAddAdjacent(a6, ones);
                    if (T.Value > 4) s7 += Avx512BW.MultiplyAddAdjacent(a7, ones);
                }
                if (T.Value == 1)
                {
                    f0 = scales.Combine(LanePairs(s0), xScales[b], xSums + b, f0);
                    continue;
                }
                float* pairScales = xScales + (long)b * blockStride;
                int* pairSums = xSums + (long)b * blockStride;
                f01 = scales.CombinePair(TokenLanePairs(s0, s1), pairScales, pairSums, f01);
                if (T.Value > 2) f23 = scales.CombinePair(TokenLanePairs(s2, s3), pairScales + 2, pairSums + 2, f23);
                if (T.Value > 4) f45 = scales.CombinePair(TokenLanePairs(s4, s5), pairScales + 4, pairSums + 4, f45);
                if (T.Value > 4) f67 = scales.CombinePair(TokenLanePairs(s6, s7), pairScales + 6, pairSums + 6, f67);
            }
        }
        if (T.Value == 1)
        {
            f0.Store(result);
            return;
        }
        StorePair(f01, result);
        if (T.Value > 2) StorePair(f23, result + 2 * Int4Matrix.TileRows);
        if (T.Value > 4) StorePair(f45, result + 4 * Int4Matrix.TileRows);
        if (T.Value > 4) StorePair(f67, result + 6 * Int4Matrix.TileRows);
    }

    /// <summary>
    /// Two tokens' 32-bit lane sums (row r in lanes 2r and 2r + 1 of each) reduced to row sums in one register, rows
    /// interleaved as <see cref="TokenWordPairs"/> gives them (lane 2r the first token's row r, 2r + 1 the second's):
    /// two vpermt2d and one vpaddd for the pair, where narrowing each token (<see cref="LanePairs"/>) took three.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> TokenLanePairs(Vector512<int> first, Vector512<int> second) => GatherLanePairs(first, second,
        Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
        Vector512.Create(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));

    /// <summary>
    /// Two registers' row sums, row r in lanes 2r and 2r + 1 of each: <paramref name="lowLanes"/> and
    /// <paramref name="highLanes"/> pick each output's two lanes (0-15 from <paramref name="first"/>, 16-31 from
    /// <paramref name="second"/>; two vpermt2d), one vpaddd adds them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> GatherLanePairs(Vector512<int> first, Vector512<int> second, Vector512<int> lowLanes, Vector512<int> highLanes) =>
        Avx512F.PermuteVar16x32x2(first, lowLanes, second) + Avx512F.PermuteVar16x32x2(first, highLanes, second);

    /// <summary>Adjacent 16-bit sums added into 32-bit lanes (vpmaddwd by 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> Widen(Vector512<short> words) => Avx512BW.MultiplyAddAdjacent(words, Vector512.Create((short)1));

    /// <summary>
    /// One token and groups of one chunk (GGUF Q4_0, Q4_1 and Q4_K, and the output projection of the converter's files),
    /// two groups at a time: decode's kernel for those matrices. The general kernel ends a block after
    /// every chunk, and there the end (widening, narrowing eight lanes, the group's FP16 scales converted in software,
    /// the combine) costs about as much as the chunk's products. Here the two blocks' 16-bit sums are gathered into one
    /// register (lanes 0-7 the first block's rows, 8-15 the second's, <see cref="BlockWordPairs"/>), and
    /// <see cref="IGroupScales.CombineBlockPair"/> loads both groups' scales at once and combines in 512-bit halves,
    /// added to the accumulator one block after the other as the reference adds them, so the result is the reference's
    /// bit for bit. Measured: see the file's header.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx512BlockPairs<S>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result)
        where S : struct, IGroupScales
    {
        byte* p = w.Tile(tile);
        int blocks = w.Groups;
        sbyte* xp = x.Values;
        float* xScales = x.Scales;
        int* xSums = x.Sums;
        var mask = Vector512.Create((byte)0x0F);
        Vector256<float> acc = default;
        int b = 0;
        for (; b + 2 <= blocks; b += 2, p += 2 * Int4Matrix.ChunkBytes, xp += 2 * Int4Matrix.ChunkSize)
        {
            LoadChunk(p, mask, out var l0, out var h0, out var l1, out var h1);
            var first = Octets(l0, h0, l1, h1, xp);
            LoadChunk(p + Int4Matrix.ChunkBytes, mask, out l0, out h0, out l1, out h1);
            var second = Octets(l0, h0, l1, h1, xp + Int4Matrix.ChunkSize);
            acc = scales.CombineBlockPair(tile, b, BlockWordPairs(first, second), xScales + b, xSums + b, acc);
        }
        if (b < blocks)
        {
            // An odd last block: the general kernel's arithmetic for it.
            LoadChunk(p, mask, out var l0, out var h0, out var l1, out var h1);
            scales.BeginGroup(tile, b);
            acc = scales.Combine(LanePairs(Widen(Octets(l0, h0, l1, h1, xp))), xScales[b], xSums + b, acc);
        }
        acc.Store(result);
    }

    /// <summary>
    /// Two blocks' 16-bit octet sums of one token (four per row, in the row's 64-bit lane) reduced to row sums in one
    /// register, lanes 0-7 the first block's rows and 8-15 the second's: as <see cref="TokenWordPairs"/> does for two
    /// tokens, with the outputs in halves instead of interleaved.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> BlockWordPairs(Vector512<short> first, Vector512<short> second) => PairReductionChoice.WidensFirst
        ? GatherLanePairs(Widen(first), Widen(second),
            Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
            Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31))
        : WordPairs(first, second,
            Vector512.Create((short)0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29, 32, 33, 36, 37, 40, 41, 44, 45, 48, 49, 52, 53, 56, 57, 60, 61),
            Vector512.Create((short)2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31, 34, 35, 38, 39, 42, 43, 46, 47, 50, 51, 54, 55, 58, 59, 62, 63));

    /// <summary>
    /// The 32-bit sums of two registers' 16-bit words, four words an output: <paramref name="lowWords"/> and
    /// <paramref name="highWords"/> pick each output's first two and last two words (0-31 from <paramref name="first"/>,
    /// 32-63 from <paramref name="second"/>; two vpermt2w), one vpaddw adds them and one vpmaddwd the pair.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> WordPairs(Vector512<short> first, Vector512<short> second, Vector512<short> lowWords, Vector512<short> highWords) =>
        Widen(Avx512BW.PermuteVar32x16x2(first, lowWords, second) + Avx512BW.PermuteVar32x16x2(first, highWords, second));

    /// <summary>
    /// The kernel for activation blocks of one chunk (groups of 32: ggml's Q4_0, Q4_1, Q4_K) and two or more tokens,
    /// a token pair at a time: each token's products are widened at once (no 16-bit sum carried across chunks), and
    /// a pair's lane sums reduced and combined with the scales in one 512-bit register, rows interleaved
    /// (<see cref="TokenWordPairs"/>, <see cref="IGroupScales.CombinePair"/>), where the general kernel narrows each
    /// token to eight lanes first. The activations' scales and sums come from the by-block copies
    /// (<see cref="TokenInt8.ScalesByBlock"/>), where a token's next one follows it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Avx512Chunks<T, S>(in Int4View w, ref S scales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IGroupScales
    {
        byte* p = w.Tile(tile);
        int groups = w.Groups, blocksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        int stride = x.Stride, blockStride = x.BlockStride;
        sbyte* xp = x.Values;
        float* xScales = x.ScalesByBlock;
        int* xSums = x.SumsByBlock;
        var mask = Vector512.Create((byte)0x0F);
        Vector512<float> f01 = default, f23 = default, f45 = default, f67 = default, f89 = default, fab = default, fcd = default, fef = default;
        int b = 0;
        for (int g = 0; g < groups; g++)
        {
            scales.BeginGroup(tile, g);
            scales.BeginPairs();
            for (int end = b + blocksPerGroup; b < end; b++, p += Int4Matrix.ChunkBytes, xp += Int4Matrix.ChunkSize, xScales += blockStride, xSums += blockStride)
            {
                LoadChunk(p, mask, out var l0, out var h0, out var l1, out var h1);
                f01 = PairBlock(ref scales, l0, h0, l1, h1, xp, stride, xScales, xSums, f01);
                if (T.Value > 2) f23 = PairBlock(ref scales, l0, h0, l1, h1, xp + 2 * stride, stride, xScales + 2, xSums + 2, f23);
                if (T.Value > 4) f45 = PairBlock(ref scales, l0, h0, l1, h1, xp + 4 * stride, stride, xScales + 4, xSums + 4, f45);
                if (T.Value > 4) f67 = PairBlock(ref scales, l0, h0, l1, h1, xp + 6 * stride, stride, xScales + 6, xSums + 6, f67);
                if (T.Value > 8) f89 = PairBlock(ref scales, l0, h0, l1, h1, xp + 8 * stride, stride, xScales + 8, xSums + 8, f89);
                if (T.Value > 8) fab = PairBlock(ref scales, l0, h0, l1, h1, xp + 10 * stride, stride, xScales + 10, xSums + 10, fab);
                if (T.Value > 8) fcd = PairBlock(ref scales, l0, h0, l1, h1, xp + 12 * stride, stride, xScales + 12, xSums + 12, fcd);
                if (T.Value > 8) fef = PairBlock(ref scales, l0, h0, l1, h1, xp + 14 * stride, stride, xScales + 14, xSums + 14, fef);
            }
        }
        StorePair(f01, result);
        if (T.Value > 2) StorePair(f23, result + 2 * Int4Matrix.TileRows);
        if (T.Value > 4) StorePair(f45, result + 4 * Int4Matrix.TileRows);
        if (T.Value > 4) StorePair(f67, result + 6 * Int4Matrix.TileRows);
        if (T.Value > 8) StorePair(f89, result + 8 * Int4Matrix.TileRows);
        if (T.Value > 8) StorePair(fab, result + 10 * Int4Matrix.TileRows);
        if (T.Value > 8) StorePair(fcd, result + 12 * Int4Matrix.TileRows);
        if (T.Value > 8) StorePair(fef, result + 14 * Int4Matrix.TileRows);
    }

    /// <summary>
    /// acc + one chunk's contribution for two tokens (the one at <paramref name="x"/> and the next): each token's four
    /// octet products added as 16-bit sums and widened, the pair's lanes reduced to row sums and combined with the scales.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairBlock<S>(ref S scales, Vector512<byte> low0, Vector512<byte> high0, Vector512<byte> low1, Vector512<byte> high1,
        sbyte* x, int stride, float* xScales, int* xSums, Vector512<float> acc) where S : struct, IGroupScales
    {
        var first = Octets(low0, high0, low1, high1, x);
        var second = Octets(low0, high0, low1, high1, x + stride);
        return scales.CombinePair(TokenWordPairs(first, second), xScales, xSums, acc);
    }

    /// <summary>
    /// Two tokens' 16-bit octet sums (four per row, in the row's 64-bit lane) reduced to row sums in one register, rows
    /// interleaved (lane 2r the first token's row r, 2r + 1 the second's): two vpermt2w gather each output's four words
    /// into the two halves of a 32-bit lane pair, one vpaddw adds the halves and one vpmaddwd the pair, four operations
    /// where widening each token (vpmaddwd by 1) and then two vpermt2d and a vpaddd took five. The 16-bit add cannot
    /// overflow: an octet sum is at most 4 x 2 x 15 x 128 = 15,360 in magnitude, two of them 30,720. Interleaved, the
    /// pair's activation scales and sums are one 64-bit broadcast each (<see cref="TokenPair"/>). On Intel processors
    /// the same sums come from <see cref="TokenLanePairs"/> on the widened registers (see <see cref="PairReduction"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<int> TokenWordPairs(Vector512<short> first, Vector512<short> second) => PairReductionChoice.WidensFirst
        ? TokenLanePairs(Widen(first), Widen(second))
        : WordPairs(first, second,
            Vector512.Create((short)0, 1, 32, 33, 4, 5, 36, 37, 8, 9, 40, 41, 12, 13, 44, 45, 16, 17, 48, 49, 20, 21, 52, 53, 24, 25, 56, 57, 28, 29, 60, 61),
            Vector512.Create((short)2, 3, 34, 35, 6, 7, 38, 39, 10, 11, 42, 43, 14, 15, 46, 47, 18, 19, 50, 51, 22, 23, 54, 55, 26, 27, 58, 59, 30, 31, 62, 63));

    /// <summary>A pair's rows, interleaved (lane 2r the first token's row r, 2r + 1 the second's), stored as eight rows per token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StorePair(Vector512<float> interleaved, float* result) =>
        Avx512F.PermuteVar16x32(interleaved, Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)).Store(result);

    /// <summary>
    /// One token's products with a chunk: each of the four octet registers times that octet's eight activations,
    /// broadcast to every row's 64-bit lane, as 16-bit pair sums added together.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Octets(Vector512<byte> low0, Vector512<byte> high0, Vector512<byte> low1, Vector512<byte> high1, sbyte* x) =>
        Avx512BW.MultiplyAddAdjacent(low0, Vector512.Create(*(long*)x).AsSByte())
        + Avx512BW.MultiplyAddAdjacent(high0, Vector512.Create(*(long*)(x + 16)).AsSByte())
        + Avx512BW.MultiplyAddAdjacent(low1, Vector512.Create(*(long*)(x + 8)).AsSByte())
        + Avx512BW.MultiplyAddAdjacent(high1, Vector512.Create(*(long*)(x + 24)).AsSByte());

    /// <summary>Row r's two 32-bit lanes (2r, 2r + 1) added and narrowed to eight row sums in order (vpshufd, add, vpmovqd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> LanePairs(Vector512<int> lanes) =>
        Avx512F.ConvertToVector256Int32((lanes + Avx512F.Shuffle(lanes, 0b10_11_00_01)).AsInt64());

    /// <summary>
    /// A chunk of a tile (prefetching the one <see cref="PrefetchDistance"/> ahead), split into its four octet registers:
    /// the two halves' low nibbles and high nibbles, eight rows' weights for one octet each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadChunk(byte* p, Vector512<byte> mask, out Vector512<byte> low0, out Vector512<byte> high0, out Vector512<byte> low1, out Vector512<byte> high1)
    {
        PrefetchChunk(p);
        var v0 = Vector512.Load(p);
        var v1 = Vector512.Load(p + Int4Matrix.HalfChunkBytes);
        low0 = v0 & mask;
        high0 = High(v0, mask);
        low1 = v1 & mask;
        high1 = High(v1, mask);
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
                    byte* chunk = tq + (long)c * Int4Matrix.ChunkBytes;
                    var v = Vector256.Create(Int4View.RowChunk(chunk, 2 * pair), Int4View.RowChunk(chunk, 2 * pair + 1));
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
