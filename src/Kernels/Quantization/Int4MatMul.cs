using System.Runtime.CompilerServices;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Ops;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// INT4 weights times FP32 or INT8 activations: one entry point (<see cref="Multiply"/>) that runs the path it is
/// given, and the scalar reference every other path is tested against. The SIMD paths live in the partial-class
/// files beside this one (Int4MatMul.Avx512.cs, .Avx2.cs, .Vector128.cs).
///
/// A kernel computes the 8 outputs of one tile (8 weight rows) for a few tokens at once: each chunk of weights is
/// loaded and unpacked once and multiplied with every token of the group, so a GEMM (a prompt) reads and unpacks its
/// weights once per token group rather than once per token. A GEMV (decoding one token) is a group of one.
///
/// INT8 arithmetic, per row r and activation block b (which lies in weight group g):
///   out[r] = fma(float(dot(q[r, b], xq[b]) - zero[r, g] * sum(xq[b])), scale[r, g] * xscale[b], out[r])
/// The integer part is exact in every path and the float operations happen in the same order, so every path
/// gives the same bits as the scalar reference. The multiply-add is fused (one rounding) on every path: one operation
/// instead of two at the end of every block, which for groups of 32 is every chunk.
/// </summary>
internal static unsafe partial class Int4MatMul
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(KernelPath path, in Int4View w, ActivationMode mode, ActivationScratch scratch, float* output, int outputStride,
        int tokens, int tileBegin, int tileEnd)
    {
        var kernel = new Kernel(path, w, mode, scratch);
        TileDriver.Multiply(ref kernel, output, outputStride, tokens, tileBegin, tileEnd);
    }

    /// <summary>
    /// The multiplication of 4-bit codes whose groups of 32 have a scale and a minimum per row (ggml's Q4_K and Q4_1),
    /// INT8 activations, with the same token blocking and SIMD kernels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyScaleMin<S>(KernelPath path, in Int4View w, S scales, ActivationScratch scratch, float* output, int outputStride,
        int tokens, int tileBegin, int tileEnd) where S : struct, IScaleMinGroups
    {
        var kernel = new ScaleMinKernel<S>(path, w, scales, scratch);
        TileDriver.Multiply(ref kernel, output, outputStride, tokens, tileBegin, tileEnd);
    }

    /// <summary>The path's kernel over an INT4 matrix and FP32 or INT8 activations, for <see cref="TileDriver"/>.</summary>
    private readonly struct Kernel(KernelPath path, Int4View w, ActivationMode mode, ActivationScratch scratch) : ITileKernel
    {
        private readonly Int4View _w = w;

        public int Rows => _w.Rows;

        public int ActivationBytesPerToken => mode == ActivationMode.Int8 ? _w.KPadded : _w.KPadded * sizeof(float);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Run(int tile, int token, int available, float* result) => mode == ActivationMode.Int8
            ? MultiplyTileInt8(path, _w, scratch, tile, token, available, result)
            : MultiplyTileFloat32(path, _w, scratch, tile, token, result);
    }

    /// <summary>The path's kernel over codes with a scale and a minimum per group, for <see cref="TileDriver"/>.</summary>
    private struct ScaleMinKernel<S>(KernelPath path, Int4View w, S scales, ActivationScratch scratch) : ITileKernel
        where S : struct, IScaleMinGroups
    {
        private readonly Int4View _w = w;
        private S _scales = scales;

        public readonly int Rows => _w.Rows;

        public readonly int ActivationBytesPerToken => _w.KPadded;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Run(int tile, int token, int available, float* result)
        {
            var x = new TokenInt8(scratch, token, _w.KPadded / _w.BlockSize);
            // Q4_K's decode has a kernel of its own that walks a super-block's scales in order.
            if (typeof(S) == typeof(KQuantGroupScales) && path == KernelPath.Avx512 && available == 1)
            {
                TileInt8Avx512SuperBlocks(_w, Unsafe.As<S, KQuantGroupScales>(ref _scales), tile, x, result);
                return 1;
            }
            if (path == KernelPath.Vector128)
            {
                var combine = new PortableScaleMinCombine<S>(_scales);
                return TileInt8Portable(_w, ref combine, tile, x, available, result);
            }
            return path is KernelPath.Avx512 or KernelPath.Avx2Vnni or KernelPath.Avx2
                ? TileInt8Simd(path, _w, ref _scales, tile, x, available, result)
                : TileScaleMinScalar(_w, _scales, tile, x.Values, x.Scales, x.Sums, result);
        }
    }

    /// <summary>
    /// The reference for codes with a scale and a minimum per group: per row and group of 32,
    /// the exact integer dot of the codes with the INT8 activations, then
    /// out[r] += float(dot) * (scale * xscale) - (min * xscale) * float(sum(xq)).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int TileScaleMinScalar<S>(in Int4View w, in S scales, int tile, sbyte* x, float* xScales, int* xSums, float* result)
        where S : struct, IScaleMinGroups
    {
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int g = 0; g < w.Groups; g++)
        {
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                int dot = 0;
                for (int j = 0; j < 32; j++) dot += Weight(w, tile, r, g, j) * x[g * 32 + j];
                var (scale, min) = scales.Row(tile * Int4Matrix.TileRows + r, g);
                result[r] += (float)dot * (scale * xScales[g]) - min * xScales[g] * (float)xSums[g];
            }
        }
        return 1;
    }

    /// <summary>Runs the path's INT8 kernel on as many of <paramref name="available"/> tokens as it takes; returns how many it ran.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MultiplyTileInt8(KernelPath path, in Int4View w, ActivationScratch scratch, int tile, int token, int available, float* result)
    {
        var x = new TokenInt8(scratch, token, w.KPadded / w.BlockSize);
        switch (path)
        {
            case KernelPath.Avx512 or KernelPath.Avx2Vnni or KernelPath.Avx2:
                return w.Zeros == null
                    ? TileInt8SimdWithZeros<SymmetricZeros>(path, w, tile, x, available, result)
                    : TileInt8SimdWithZeros<StoredZeros>(path, w, tile, x, available, result);
            case KernelPath.Vector128:
                var combine = new PortableInt4Combine(w);
                return TileInt8Portable(w, ref combine, tile, x, available, result);
            default:
                TileInt8Scalar(w, tile, x.Values, x.Scales, x.Sums, result);
                return 1;
        }
    }

    /// <summary>The portable 128-bit kernel on as many of <paramref name="available"/> tokens as it takes (4, 2 or 1); returns how many it ran.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TileInt8Portable<C>(in Int4View w, ref C combine, int tile, in TokenInt8 x, int available, float* result)
        where C : struct, IPortableCombine
    {
        if (available >= 4) { TileInt8Vector128<Four, C>(w, ref combine, tile, x, result); return 4; }
        if (available >= 2) { TileInt8Vector128<Two, C>(w, ref combine, tile, x, result); return 2; }
        TileInt8Vector128<One, C>(w, ref combine, tile, x, result);
        return 1;
    }

    /// <summary>The SIMD INT8 kernels with the matrix's scales widened as their check allows (<see cref="Int4View.ScalesFinite"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TileInt8SimdWithZeros<Z>(KernelPath path, in Int4View w, int tile, in TokenInt8 x, int available, float* result)
        where Z : struct, IZeroPoints
    {
        if (w.ScalesFinite)
        {
            var finite = new Int4GroupScales<Z, FiniteHalves>(w);
            return TileInt8Simd(path, w, ref finite, tile, x, available, result);
        }
        var any = new Int4GroupScales<Z, AnyHalves>(w);
        return TileInt8Simd(path, w, ref any, tile, x, available, result);
    }

    /// <summary>
    /// The SIMD INT8 kernels for any format of the tile layout (<typeparamref name="S"/> says how its scales combine),
    /// on as many of <paramref name="available"/> tokens as the path's register tile takes; returns how many it ran.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int TileInt8Simd<S>(KernelPath path, in Int4View w, ref S scales, int tile, in TokenInt8 x, int available, float* result)
        where S : struct, IGroupScales
    {
        switch (path)
        {
            case KernelPath.Avx512 when available == 1 && w.GroupSize == Int4Matrix.ChunkSize && w.BlockSize == Int4Matrix.ChunkSize:
                TileInt8Avx512BlockPairs(w, ref scales, tile, x, result);
                return 1;
            case KernelPath.Avx512 when w.BlockSize == Int4Matrix.ChunkSize && available >= 2:
                if (available >= 16) { TileInt8Avx512Chunks<Sixteen, S>(w, ref scales, tile, x, result); return 16; }
                if (available >= 8) { TileInt8Avx512Chunks<Eight, S>(w, ref scales, tile, x, result); return 8; }
                if (available >= 4) { TileInt8Avx512Chunks<Four, S>(w, ref scales, tile, x, result); return 4; }
                TileInt8Avx512Chunks<Two, S>(w, ref scales, tile, x, result);
                return 2;
            case KernelPath.Avx512:
                if (available >= 8) { TileInt8Avx512<Eight, S>(w, ref scales, tile, x, result); return 8; }
                if (available >= 4) { TileInt8Avx512<Four, S>(w, ref scales, tile, x, result); return 4; }
                if (available >= 2) { TileInt8Avx512<Two, S>(w, ref scales, tile, x, result); return 2; }
                TileInt8Avx512<One, S>(w, ref scales, tile, x, result);
                return 1;
            // Blocks of one chunk end a block per chunk, which the AVX2 chunk kernel pays far less for than the general
            // kernels (see Int4MatMul.Avx2Chunks.cs).
            case KernelPath.Avx2Vnni when w.BlockSize == Int4Matrix.ChunkSize && available >= 2:
                if (available >= 8) { TileInt8Avx2Chunks<Eight, S, VnniChunkRowSums>(w, ref scales, tile, x, result); return 8; }
                if (available >= 4) { TileInt8Avx2Chunks<Four, S, VnniChunkRowSums>(w, ref scales, tile, x, result); return 4; }
                TileInt8Avx2Chunks<Two, S, VnniChunkRowSums>(w, ref scales, tile, x, result);
                return 2;
            case KernelPath.Avx2 when w.BlockSize == Int4Matrix.ChunkSize && available >= 2:
                if (available >= 8) { TileInt8Avx2Chunks<Eight, S, Avx2ChunkRowSums>(w, ref scales, tile, x, result); return 8; }
                if (available >= 4) { TileInt8Avx2Chunks<Four, S, Avx2ChunkRowSums>(w, ref scales, tile, x, result); return 4; }
                TileInt8Avx2Chunks<Two, S, Avx2ChunkRowSums>(w, ref scales, tile, x, result);
                return 2;
            case KernelPath.Avx2Vnni:
                if (available >= 4) { TileInt8Avx2ByHalves<Four, S, VnniHalfBlock>(w, ref scales, tile, x, result); return 4; }
                if (available >= 2) { TileInt8Avx2ByHalves<Two, S, VnniHalfBlock>(w, ref scales, tile, x, result); return 2; }
                TileInt8AvxVnniOneToken(w, ref scales, tile, x, result);
                return 1;
            default:
                if (available >= 4) { TileInt8Avx2ByHalves<Four, S, Avx2HalfBlock>(w, ref scales, tile, x, result); return 4; }
                if (available >= 2) { TileInt8Avx2ByHalves<Two, S, Avx2HalfBlock>(w, ref scales, tile, x, result); return 2; }
                TileInt8Avx2OneToken(w, ref scales, tile, x, result);
                return 1;
        }
    }

    /// <summary>The path's FP32-activation kernel for one token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MultiplyTileFloat32(KernelPath path, in Int4View w, ActivationScratch scratch, int tile, int token, float* result)
    {
        float* x = scratch.Float32 + (long)token * w.KPadded;
        float* groupSums = scratch.GroupSums + (long)token * w.Groups;
        switch (path)
        {
            case KernelPath.Avx512: TileFloat32Avx512(w, tile, x, groupSums, result); break;
            case KernelPath.Avx2Vnni or KernelPath.Avx2: TileFloat32Avx2(w, tile, x, groupSums, result); break;
            case KernelPath.Vector128: TileFloat32Vector128(w, tile, x, groupSums, result); break;
            default: TileFloat32Scalar(w, tile, x, groupSums, result); break;
        }
        return 1;
    }

    private static float HalfToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>The reference: one weight at a time, exactly the arithmetic the header describes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Scalar(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        int blocks = w.KPadded / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int b = 0; b < blocks; b++)
        {
            int g = b * w.BlockSize / w.GroupSize;
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                int dot = 0;
                for (int c = b * chunksPerBlock; c < (b + 1) * chunksPerBlock; c++)
                {
                    for (int j = 0; j < 32; j++) dot += Weight(w, tile, r, c, j) * x[c * 32 + j];
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                float scale = HalfToFloat(scales[r]) * xScales[b];
                result[r] = MathF.FusedMultiplyAdd((float)(dot - zero * xSums[b]), scale, result[r]);
            }
        }
    }

    /// <summary>The reference for FP32 activations: out[r] = sum over groups of scale * (sum(q * x) - zero * sum(x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileFloat32Scalar(in Int4View w, int tile, float* x, float* groupSums, float* result)
    {
        int chunksPerGroup = w.GroupSize / Int4Matrix.ChunkSize;
        for (int r = 0; r < Int4Matrix.TileRows; r++) result[r] = 0;
        for (int g = 0; g < w.Groups; g++)
        {
            ushort* scales = w.TileScales(tile, g);
            for (int r = 0; r < Int4Matrix.TileRows; r++)
            {
                float sum = 0;
                for (int c = g * chunksPerGroup; c < (g + 1) * chunksPerGroup; c++)
                {
                    for (int j = 0; j < 32; j++) sum += Weight(w, tile, r, c, j) * x[c * 32 + j];
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                result[r] += HalfToFloat(scales[r]) * (sum - zero * groupSums[g]);
            }
        }
    }

    /// <summary>Weight j (0..31) of row r of a tile's chunk c, as its 4-bit code.</summary>
    private static int Weight(in Int4View w, int tile, int r, int c, int j)
    {
        byte code = *w.RowChunkByte(tile * Int4Matrix.TileRows + r, c, j % Int4Matrix.RowChunkBytes);
        return j < Int4Matrix.RowChunkBytes ? code & 0x0F : code >> 4;
    }
}

/// <summary>The INT8 activations of a run of tokens from one token on, as the kernels read them.</summary>
internal readonly unsafe struct TokenInt8(ActivationScratch scratch, int token, int blocks)
{
    /// <summary>INT8 values from the first token, <see cref="Stride"/> bytes from one token to the next.</summary>
    public readonly sbyte* Values = scratch.Int8 + (long)token * scratch.Int8Stride;

    /// <summary>(tokens, blocks) block scales from the first token.</summary>
    public readonly float* Scales = scratch.BlockScales + (long)token * blocks;

    /// <summary>(tokens, blocks) block sums from the first token.</summary>
    public readonly int* Sums = scratch.BlockSums + (long)token * blocks;

    /// <summary>Distance between two tokens' values.</summary>
    public readonly int Stride = scratch.Int8Stride;

    /// <summary>Distance between two tokens' block scales (and sums).</summary>
    public readonly int Blocks = blocks;

    /// <summary>(blocks, tokens of the layout) block scales by block, from the first token: a token's next one follows it.</summary>
    public readonly float* ScalesByBlock = scratch.BlockScalesByBlock + token;

    /// <summary>(blocks, tokens of the layout) block sums by block, from the first token.</summary>
    public readonly int* SumsByBlock = scratch.BlockSumsByBlock + token;

    /// <summary>Distance between two blocks in <see cref="ScalesByBlock"/> and <see cref="SumsByBlock"/>.</summary>
    public readonly int BlockStride = scratch.Tokens;

    /// <summary>(chunks, tokens of the layout) both halves' sums of each chunk as one int's two words, by chunk, from the first token.</summary>
    public readonly int* HalfSumPairsByChunk = scratch.HalfSumPairsByChunk + token;

    /// <summary>The sum of the first 16 INT8 values of chunk <paramref name="chunk"/> of token <paramref name="token"/> (from the first): the low word of its pair.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public int FirstHalfSum(int token, int chunk) => (short)HalfSumPairsByChunk[(long)chunk * BlockStride + token];
}

/// <summary>How many tokens a kernel instance handles: a constant per type, so the JIT compiles away the unused ones.</summary>
internal interface ITokenCount
{
    static abstract int Value { get; }
}

internal readonly struct One : ITokenCount
{
    public static int Value => 1;
}

internal readonly struct Two : ITokenCount
{
    public static int Value => 2;
}

internal readonly struct Four : ITokenCount
{
    public static int Value => 4;
}

internal readonly struct Eight : ITokenCount
{
    public static int Value => 8;
}

internal readonly struct Sixteen : ITokenCount
{
    public static int Value => 16;
}
