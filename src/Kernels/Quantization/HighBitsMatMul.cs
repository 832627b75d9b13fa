using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// Weights of 5- or 6-bit codes (ggml's Q5_0, Q5_1, Q5_K, Q6_K) times INT8 activations: the low 4 bits of each code
/// in the INT4 tile layout, the rest in a <see cref="HighBitsPlane"/>. The dispatcher, the scalar reference, and the
/// AVX-512, AVX2 and portable 128-bit register-tiled kernels, which load and rebuild each chunk's codes once for every
/// token of a group as the INT4 kernels do. Per row and chunk of 32 a kernel computes the exact integer dots
/// of the codes with the activations' first and second 16 values (dotLow, dotHigh); the format's scales
/// (<typeparamref name="S"/> of each method, an <see cref="IChunkScales"/>) turn them into the chunk's contribution,
/// in the same float operations on every path, so every path gives the reference's bits.
/// </summary>
internal static unsafe partial class HighBitsMatMul
{

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply<S>(KernelPath path, in Int4View lows, HighBitsPlane plane, S scales, ActivationScratch scratch, float* output, int outputStride,
        int tokens, int tileBegin, int tileEnd) where S : struct, IChunkScales
    {
        var kernel = new Kernel<S>(path, lows, plane, scales, scratch);
        TileDriver.Multiply(ref kernel, output, outputStride, tokens, tileBegin, tileEnd);
    }

    /// <summary>The path's kernel over low nibbles, high bits and a format's scales, for <see cref="TileDriver"/>.</summary>
    private struct Kernel<S>(KernelPath path, Int4View lows, HighBitsPlane plane, S scales, ActivationScratch scratch) : ITileKernel
        where S : struct, IChunkScales
    {
        private readonly Int4View _lows = lows;
        private S _scales = scales;

        public readonly int Rows => _lows.Rows;

        public readonly int ActivationBytesPerToken => _lows.KPadded;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Run(int tile, int token, int available, float* result)
        {
            var x = new TokenInt8(scratch, token, _lows.KPadded / Int4Matrix.ChunkSize);
            return path switch
            {
                KernelPath.Avx512 when available >= 16 => TileAvx512Pairs<Sixteen, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx512 when available >= 8 => TileAvx512Pairs<Eight, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx512 when available >= 4 => TileAvx512Pairs<Four, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx512 when available >= 2 => TileAvx512Pairs<Two, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx512 => TileAvx512(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx2 or KernelPath.Avx2Vnni when available >= 8 => TileAvx2Tokens<Eight, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx2 or KernelPath.Avx2Vnni when available >= 4 => TileAvx2Tokens<Four, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx2 or KernelPath.Avx2Vnni when available >= 2 => TileAvx2Tokens<Two, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Avx2 or KernelPath.Avx2Vnni => TileAvx2(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Vector128 when available >= 4 => TileVector128<Four, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Vector128 when available >= 2 => TileVector128<Two, S>(_lows, plane, ref _scales, tile, x, result),
                KernelPath.Vector128 => TileVector128<One, S>(_lows, plane, ref _scales, tile, x, result),
                _ => TileScalar(_lows, plane, _scales, tile, x, result),
            };
        }
    }

    /// <summary>The reference: code by code, the arithmetic the header describes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileScalar<S>(in Int4View lows, in HighBitsPlane plane, in S scales, int tile, in TokenInt8 x, float* result)
        where S : struct, IChunkScales
    {
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int c = 0; c < lows.Chunks; c++)
        {
            int xLow = x.FirstHalfSum(0, c), xSum = x.Sums[c];
            float xScale = x.Scales[c];
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                int row = tile * Int4Matrix.TileRows + r, dotLow = 0, dotHigh = 0;
                for (int j = 0; j < 32; j++)
                {
                    int k = c * 32 + j;
                    int code = lows.Quant(row, k) | plane.High(row, k) << 4;
                    if (j < 16) dotLow += code * x.Values[k]; else dotHigh += code * x.Values[k];
                }
                result[r] = scales.Accumulate(row, c, dotLow, dotHigh, xScale, xLow, xSum, result[r]);
            }
        }
        return 1;
    }

    /*
     * The codes of a half (eight rows' 8 bytes: low nibbles one octet, high nibbles the octet 16 further) are its
     * nibbles with the top bits (2 for Q6_K, 1 for the 5-bit formats) from the plane, whose 32 bytes hold a 4-bit field
     * per nibble byte: bits 0-1 go above the low nibble, bits 2-3 above the high nibble. Codes are at most 63 and
     * activations -127..127, so a pair of vpmaddubsw products is at most 16002 and two added 32004; the format widens
     * the 16-bit sums every chunk (IChunkScales.RowSums512/256: vpmaddwd by 1, or by Q6_K's sub-block scales).
     *
     * Measured on an AMD EPYC Zen 4 core (`bench ggml-l2`: 128 x 4096, L2-resident, one thread, GB/s of weights, medians
     * of 3-5 runs alternated with the previous build on a shared, loaded machine). AVX-512, one token: Q6_K 20.5 before;
     * 21.7 with Q6_K's sub-block scales applied in the integer widening and the scales kept in registers; 24.3 with the
     * unpacking of Codes512 (Q5_K 20.8 -> 24.0, Q5_0 22.1 -> 24.5); 24.6 with Q6_K's last multiply and add fused (against
     * 24.2 in the same runs); 64 tokens: Q6_K 36.5 -> 44.6. Shifts and a select in place of Codes512's first multiply:
     * 23.9 against 23.8, no difference. AVX2 (DOTNET_EnableAVX512=0), one token: Q6_K 17.3 before, 17.1 with the
     * integer scales alone, 19.1 with Codes256's table lookup (Q5_K 17.2 -> 19.7), 19.6 fused; 64 tokens 22.4 -> 25.1.
     * The prefetch changes nothing in L2; in a model (`bench profile`, two threads, loaded machine) the Q6_K feed-forward
     * down matrices ran at 18.0 GB/s without it and 19.4 with it.
     */

    /// <summary>
    /// One half's 64 nibble bytes <paramref name="v"/> and its plane's 32 bytes as 6-bit codes: the low nibbles' codes
    /// (values 0..7 of eight rows, or 8..15) and the high nibbles' (16..23 or 24..31). The plane bytes widened to words
    /// (vpmovzxbw) hold field 2i in bits 0-3 of word i and field 2i+1 in bits 4-7. For the low codes the mask 0x33 keeps
    /// bits 0-1 of both fields and x 272 (x 16 + x 256) puts them in bits 4-5 and 12-13, the tops of the word's two bytes,
    /// with zeros above; for the high codes 0xCC and x 68 (x 4 + x 64) do the same with bits 2-3. The cross terms land in
    /// bits 8-10, under the high byte's nibble, which a bitwise select (vpternlogd) takes from the nibbles instead:
    /// 8 operations a half against 14 with separate shifts, masks and ORs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Codes512(Vector512<byte> v, byte* plane, out Vector512<byte> low, out Vector512<byte> high)
    {
        var w = Avx512BW.ConvertToVector512UInt16(Vector256.Load(plane));
        var lowTops = Avx512BW.MultiplyLow(w & Vector512.Create((ushort)0x0033), Vector512.Create((ushort)272)).AsByte();
        var highTops = Avx512BW.MultiplyLow(w & Vector512.Create((ushort)0x00CC), Vector512.Create((ushort)68)).AsByte();
        var nibble = Vector512.Create((byte)0x0F);
        // 0xE4: each bit from the first operand where the third's is set, else from the second.
        low = Avx512F.TernaryLogic(v, lowTops, nibble, 0xE4);
        high = Avx512F.TernaryLogic((v.AsUInt16() >> 4).AsByte(), highTops, nibble, 0xE4);
    }

    /// <summary>How many chunks ahead the kernels ask for codes (as the INT4 kernels: 3 KiB of nibbles ahead).</summary>
    private const int PrefetchChunks = 24;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(byte* nibbles, byte* plane)
    {
        Sse.Prefetch0(nibbles + PrefetchChunks * Int4Matrix.ChunkBytes);
        Sse.Prefetch0(nibbles + PrefetchChunks * Int4Matrix.ChunkBytes + 64);
        Sse.Prefetch0(plane + PrefetchChunks * 2 * HighBitsPlane.HalfBytes);
    }

    /// <summary>AVX-512 for one token (decode): the chunk's codes and the token's results in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileAvx512<S>(in Int4View lows, in HighBitsPlane plane, ref S tileScales, int tile, in TokenInt8 x, float* result)
        where S : struct, IChunkScales
    {
        // A local copy, which the JIT keeps in registers: a chunk's scales written through the reference and read back
        // by each token would go through memory, and Zen 4 does not forward a 512-bit store to a load (Q6_K at one token
        // took 2x longer so).
        var scales = tileScales;
        byte* p = lows.Tile(tile);
        int chunks = lows.Chunks;
        Vector256<float> f0 = default;
        byte* h = plane.Highs(tile, 0, 0);
        for (int c = 0; c < chunks; c++, p += Int4Matrix.ChunkBytes, h += 2 * HighBitsPlane.HalfBytes)
        {
            Prefetch(p, h);
            scales.BeginChunk(tile, c);
            Codes512(Vector512.Load(p), h, out var low0, out var high0);
            Codes512(Vector512.Load(p + Int4Matrix.HalfChunkBytes), h + HighBitsPlane.HalfBytes, out var low1, out var high1);
            HalfSums512(low0, high0, low1, high1, x.Values + c * Int4Matrix.ChunkSize, out var sumLow, out var sumHigh);
            f0 = scales.Combine(scales.RowSums512(sumLow, sumHigh), x.Scales[c], x.FirstHalfSum(0, c), x.Sums[c], f0);
        }
        f0.Store(result);
        return 1;
    }

    /// <summary>
    /// AVX-512 for two or more tokens (prefill, batched decode), a token pair at a time: each chunk's codes are rebuilt
    /// once for <typeparamref name="T"/> tokens, and a pair's row integers come in one register, rows interleaved
    /// (<see cref="IChunkScales.PairRowSums512"/>), combined with the scales by 512-bit operations
    /// (<see cref="IChunkScales.CombineChunkPair"/>) where each token was narrowed to eight lanes (vpshufd, vpaddd,
    /// vpmovqd) and combined in 256 bits, its half sums packed by scalar code. The activations' scales, sums and
    /// half-sum pairs come from the by-chunk copies, where a token's next one follows it. Only float accumulators
    /// live across chunks, so sixteen tokens fit in registers. Measured on an Intel Xeon (Emerald Rapids) core,
    /// `bench ggml-l2 150` (128 x 4096 from L2, 64 tokens, one thread, GOPS, three runs alternated with the
    /// token-at-a-time kernel of up to eight tokens): Q6_K 68-90 -> 76-110, Q5_K 61-81 -> 95-107, Q5_0 69-88 ->
    /// 108-110, Q5_1 75-78 -> 106-110; with groups of at most eight tokens Q6_K gave 76-103.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileAvx512Pairs<T, S>(in Int4View lows, in HighBitsPlane plane, ref S tileScales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IChunkScales
    {
        var scales = tileScales; // in registers, as in TileAvx512
        byte* p = lows.Tile(tile);
        int chunks = lows.Chunks, stride = x.Stride, chunkStride = x.BlockStride;
        sbyte* xp = x.Values;
        float* xScales = x.ScalesByBlock;
        int* xSums = x.SumsByBlock, xHalves = x.HalfSumPairsByChunk;
        Vector512<float> f01 = default, f23 = default, f45 = default, f67 = default, f89 = default, fab = default, fcd = default, fef = default;
        byte* h = plane.Highs(tile, 0, 0);
        for (int c = 0; c < chunks; c++, p += Int4Matrix.ChunkBytes, h += 2 * HighBitsPlane.HalfBytes, xp += Int4Matrix.ChunkSize,
            xScales += chunkStride, xSums += chunkStride, xHalves += chunkStride)
        {
            Prefetch(p, h);
            scales.BeginChunk(tile, c);
            scales.BeginPairs();
            Codes512(Vector512.Load(p), h, out var low0, out var high0);
            Codes512(Vector512.Load(p + Int4Matrix.HalfChunkBytes), h + HighBitsPlane.HalfBytes, out var low1, out var high1);
            f01 = PairChunk(low0, high0, low1, high1, xp, stride, ref scales, xScales, xSums, xHalves, f01);
            if (T.Value > 2) f23 = PairChunk(low0, high0, low1, high1, xp + 2 * stride, stride, ref scales, xScales + 2, xSums + 2, xHalves + 2, f23);
            if (T.Value > 4) f45 = PairChunk(low0, high0, low1, high1, xp + 4 * stride, stride, ref scales, xScales + 4, xSums + 4, xHalves + 4, f45);
            if (T.Value > 4) f67 = PairChunk(low0, high0, low1, high1, xp + 6 * stride, stride, ref scales, xScales + 6, xSums + 6, xHalves + 6, f67);
            if (T.Value > 8) f89 = PairChunk(low0, high0, low1, high1, xp + 8 * stride, stride, ref scales, xScales + 8, xSums + 8, xHalves + 8, f89);
            if (T.Value > 8) fab = PairChunk(low0, high0, low1, high1, xp + 10 * stride, stride, ref scales, xScales + 10, xSums + 10, xHalves + 10, fab);
            if (T.Value > 8) fcd = PairChunk(low0, high0, low1, high1, xp + 12 * stride, stride, ref scales, xScales + 12, xSums + 12, xHalves + 12, fcd);
            if (T.Value > 8) fef = PairChunk(low0, high0, low1, high1, xp + 14 * stride, stride, ref scales, xScales + 14, xSums + 14, xHalves + 14, fef);
        }
        Int4MatMul.StorePair(f01, result);
        if (T.Value > 2) Int4MatMul.StorePair(f23, result + 2 * Int4Matrix.TileRows);
        if (T.Value > 4) Int4MatMul.StorePair(f45, result + 4 * Int4Matrix.TileRows);
        if (T.Value > 4) Int4MatMul.StorePair(f67, result + 6 * Int4Matrix.TileRows);
        if (T.Value > 8) Int4MatMul.StorePair(f89, result + 8 * Int4Matrix.TileRows);
        if (T.Value > 8) Int4MatMul.StorePair(fab, result + 10 * Int4Matrix.TileRows);
        if (T.Value > 8) Int4MatMul.StorePair(fcd, result + 12 * Int4Matrix.TileRows);
        if (T.Value > 8) Int4MatMul.StorePair(fef, result + 14 * Int4Matrix.TileRows);
        return T.Value;
    }

    /// <summary>acc + one chunk's contribution for two tokens (the one at <paramref name="x"/> and the next), rows interleaved.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairChunk<S>(Vector512<byte> low0, Vector512<byte> high0, Vector512<byte> low1, Vector512<byte> high1,
        sbyte* x, int stride, ref S scales, float* xScales, int* xSums, int* xHalves, Vector512<float> acc) where S : struct, IChunkScales
    {
        HalfSums512(low0, high0, low1, high1, x, out var lowA, out var highA);
        HalfSums512(low0, high0, low1, high1, x + stride, out var lowB, out var highB);
        return scales.CombineChunkPair(scales.PairRowSums512(lowA, highA, lowB, highB), xScales, xSums, xHalves, acc);
    }

    /// <summary>
    /// One token's 16-bit pair sums of a chunk: the codes of values 0..15 (two octets of eight rows) with the token's
    /// first 16 activations, and of 16..31 with its last 16, each octet's activations broadcast to every row's lane.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void HalfSums512(Vector512<byte> low0, Vector512<byte> high0, Vector512<byte> low1, Vector512<byte> high1, sbyte* x,
        out Vector512<short> sumLow, out Vector512<short> sumHigh)
    {
        sumLow = Avx512BW.MultiplyAddAdjacent(low0, Vector512.Create(*(long*)x).AsSByte())
            + Avx512BW.MultiplyAddAdjacent(low1, Vector512.Create(*(long*)(x + 8)).AsSByte());
        sumHigh = Avx512BW.MultiplyAddAdjacent(high0, Vector512.Create(*(long*)(x + 16)).AsSByte())
            + Avx512BW.MultiplyAddAdjacent(high1, Vector512.Create(*(long*)(x + 24)).AsSByte());
    }

    /// <summary>AVX2 for one token (decode): the chunk's codes and the token's results in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileAvx2<S>(in Int4View lows, in HighBitsPlane plane, ref S tileScales, int tile, in TokenInt8 x, float* result)
        where S : struct, IChunkScales
    {
        var scales = tileScales; // in registers, as in TileAvx512
        byte* p = lows.Tile(tile);
        int chunks = lows.Chunks;
        Vector256<float> f0 = default;
        byte* h = plane.Highs(tile, 0, 0);
        for (int c = 0; c < chunks; c++, p += Int4Matrix.ChunkBytes, h += 2 * HighBitsPlane.HalfBytes)
        {
            Prefetch(p, h);
            scales.BeginChunk(tile, c);
            sbyte* xc = x.Values + c * Int4Matrix.ChunkSize;
            // Rows 0-3: the first 32 bytes of each half and the first 16 bytes of each half's plane; rows 4-7 the rest.
            var (low03a, high03a) = Codes256(Vector256.Load(p), h);
            var (low03b, high03b) = Codes256(Vector256.Load(p + Int4Matrix.HalfChunkBytes), h + HighBitsPlane.HalfBytes);
            var (low47a, high47a) = Codes256(Vector256.Load(p + 32), h + 16);
            var (low47b, high47b) = Codes256(Vector256.Load(p + Int4Matrix.HalfChunkBytes + 32), h + HighBitsPlane.HalfBytes + 16);
            f0 = Token256(low03a, high03a, low03b, high03b, low47a, high47a, low47b, high47b, xc, ref scales, x, 0, c, f0);
        }
        f0.Store(result);
        return 1;
    }

    /// <summary>
    /// AVX2 for two or more tokens: each chunk's codes are rebuilt once (four <see cref="Codes256"/>, about 44
    /// operations) for <typeparamref name="T"/> tokens, whose results stay in L1 (the result buffer) between chunks:
    /// 16 registers hold the eight code registers and one token's sums, not several tokens' accumulators as well.
    /// Replacing a two-token kernel with accumulators in registers, a 512-token prefill of TinyLlama-1.1B Q4_K_M (Q6_K
    /// in half the down projections and the output) at two threads on AMD Zen 3, the two alternated in one process:
    /// 60.7 -> 66.1 tokens per second.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileAvx2Tokens<T, S>(in Int4View lows, in HighBitsPlane plane, ref S tileScales, int tile, in TokenInt8 x, float* result)
        where T : struct, ITokenCount where S : struct, IChunkScales
    {
        var scales = tileScales; // in registers, as in TileAvx512
        byte* p = lows.Tile(tile);
        int chunks = lows.Chunks, stride = x.Stride, blocks = x.Blocks;
        for (int t = 0; t < T.Value; t++) Vector256<float>.Zero.Store(result + t * Int4Matrix.TileRows);
        byte* h = plane.Highs(tile, 0, 0);
        for (int c = 0; c < chunks; c++, p += Int4Matrix.ChunkBytes, h += 2 * HighBitsPlane.HalfBytes)
        {
            Prefetch(p, h);
            scales.BeginChunk(tile, c);
            sbyte* xc = x.Values + c * Int4Matrix.ChunkSize;
            var (low03a, high03a) = Codes256(Vector256.Load(p), h);
            var (low03b, high03b) = Codes256(Vector256.Load(p + Int4Matrix.HalfChunkBytes), h + HighBitsPlane.HalfBytes);
            var (low47a, high47a) = Codes256(Vector256.Load(p + 32), h + 16);
            var (low47b, high47b) = Codes256(Vector256.Load(p + Int4Matrix.HalfChunkBytes + 32), h + HighBitsPlane.HalfBytes + 16);
            float* acc = result;
            for (int t = 0; t < T.Value; t++, xc += stride, acc += Int4Matrix.TileRows)
                Token256(low03a, high03a, low03b, high03b, low47a, high47a, low47b, high47b, xc, ref scales, x, t, c, Vector256.Load(acc)).Store(acc);
        }
        return T.Value;
    }

    /// <summary>
    /// 32 nibble bytes <paramref name="v"/> (four rows' one octet of a half) and their 16 plane bytes as 6-bit codes, the
    /// low nibbles' and the high nibbles'. The plane bytes widened to words and the high field shifted into the high
    /// byte give one 4-bit field a byte; a table lookup (vpshufb) of the field gives each code's two top bits already in
    /// bits 4-5 and nothing else, so one OR completes a code: 11 operations against 14 with separate shifts and masks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<byte> Low, Vector256<byte> High) Codes256(Vector256<byte> v, byte* plane)
    {
        var w = Avx2.ConvertToVector256Int16(plane).AsUInt16();
        var fields = ((w | (w << 4)) & Vector256.Create((ushort)0x0F0F)).AsByte();
        var lowTops = Avx2.Shuffle(Vector256.Create((byte)0x00, 0x10, 0x20, 0x30, 0x00, 0x10, 0x20, 0x30, 0x00, 0x10, 0x20, 0x30, 0x00, 0x10, 0x20, 0x30,
            0x00, 0x10, 0x20, 0x30, 0x00, 0x10, 0x20, 0x30, 0x00, 0x10, 0x20, 0x30, 0x00, 0x10, 0x20, 0x30), fields);
        var highTops = Avx2.Shuffle(Vector256.Create((byte)0x00, 0x00, 0x00, 0x00, 0x10, 0x10, 0x10, 0x10, 0x20, 0x20, 0x20, 0x20, 0x30, 0x30, 0x30, 0x30,
            0x00, 0x00, 0x00, 0x00, 0x10, 0x10, 0x10, 0x10, 0x20, 0x20, 0x20, 0x20, 0x30, 0x30, 0x30, 0x30), fields);
        var nibble = Vector256.Create((byte)0x0F);
        return ((v & nibble) | lowTops, ((v.AsUInt16() >> 4).AsByte() & nibble) | highTops);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Token256<S>(Vector256<byte> low03a, Vector256<byte> high03a, Vector256<byte> low03b, Vector256<byte> high03b,
        Vector256<byte> low47a, Vector256<byte> high47a, Vector256<byte> low47b, Vector256<byte> high47b, sbyte* x,
        ref S scales, in TokenInt8 tokens, int token, int c, Vector256<float> acc) where S : struct, IChunkScales
    {
        long offset = (long)token * tokens.Blocks + c;
        var xa = Vector256.Create(*(long*)x).AsSByte();
        var xb = Vector256.Create(*(long*)(x + 8)).AsSByte();
        var xc = Vector256.Create(*(long*)(x + 16)).AsSByte();
        var xd = Vector256.Create(*(long*)(x + 24)).AsSByte();
        var low03 = Avx2.MultiplyAddAdjacent(low03a, xa) + Avx2.MultiplyAddAdjacent(low03b, xb);
        var low47 = Avx2.MultiplyAddAdjacent(low47a, xa) + Avx2.MultiplyAddAdjacent(low47b, xb);
        var high03 = Avx2.MultiplyAddAdjacent(high03a, xc) + Avx2.MultiplyAddAdjacent(high03b, xd);
        var high47 = Avx2.MultiplyAddAdjacent(high47a, xc) + Avx2.MultiplyAddAdjacent(high47b, xd);
        return scales.Combine(scales.RowSums256(low03, low47, high03, high47),
            tokens.Scales[offset], tokens.FirstHalfSum(token, c), tokens.Sums[offset], acc);
    }
}
