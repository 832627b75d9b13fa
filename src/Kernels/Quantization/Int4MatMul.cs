using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// INT4 weights times FP32 or INT8 activations: one entry point (<see cref="Multiply"/>) that runs the path it is
/// given, and the scalar reference every other path is tested against. The SIMD paths live in the partial-class
/// files beside this one (Int4MatMul.Avx512.cs, .Avx2.cs, .Vector128.cs).
///
/// A kernel computes the 8 outputs of one tile (8 weight rows) for one token. A GEMV is one token; a GEMM runs the
/// tokens inside each tile, so the tile's weights are read from memory once and from cache for the other tokens.
///
/// INT8 arithmetic, per row r and activation block b (which lies in weight group g):
///   out[r] += float(dot(q[r, b], xq[b]) - zero[r, g] * sum(xq[b])) * (scale[r, g] * xscale[b])
/// The integer part is exact in every path and the float operations happen in the same order, so every path
/// gives the same bits as the scalar reference.
/// </summary>
internal static unsafe partial class Int4MatMul
{
    /// <summary>Activation bytes a token block may occupy, so that it stays in L2 while every tile of a range passes over it.</summary>
    private const int TokenBlockBytes = 256 * 1024;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(KernelPath path, in Int4View w, ActivationMode mode, ActivationScratch scratch, float* output,
        int tokens, int tileBegin, int tileEnd)
    {
        // A GEMM walks tokens in blocks that fit in L2 and, for each block, every tile of the range: each tile's
        // weights then come from memory once per block and from L1 for the block's other tokens.
        int bytesPerToken = mode == ActivationMode.Int8 ? w.KPadded : w.KPadded * sizeof(float);
        int tokenBlock = Math.Clamp(TokenBlockBytes / bytesPerToken, 1, 64);
        for (int first = 0; first < tokens; first += tokenBlock)
        {
            int last = Math.Min(tokens, first + tokenBlock);
            for (int tile = tileBegin; tile < tileEnd; tile++) MultiplyTile(path, w, mode, scratch, output, tile, first, last);
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyTile(KernelPath path, in Int4View w, ActivationMode mode, ActivationScratch scratch, float* output,
        int tile, int firstToken, int lastToken)
    {
        float* result = stackalloc float[2 * Int4Matrix.TileRows];
        int blocks = w.KPadded / w.BlockSize;
        int rowBase = tile * Int4Matrix.TileRows;
        int rowCount = Math.Min(Int4Matrix.TileRows, w.Rows - rowBase);
        int t = firstToken;
        if (path == KernelPath.Avx2 && mode == ActivationMode.Int8)
        {
            // Tokens two at a time share the weights' unpacking; an odd last token takes the single-token kernel.
            for (; t + 2 <= lastToken; t += 2)
            {
                long first = (long)t * w.KPadded, firstBlock = (long)t * blocks;
                TileInt8Avx2TwoTokens(w, tile, scratch.Int8 + first, scratch.Int8 + first + w.KPadded,
                    scratch.BlockScales + firstBlock, scratch.BlockScales + firstBlock + blocks,
                    scratch.BlockSums + firstBlock, scratch.BlockSums + firstBlock + blocks, result, result + Int4Matrix.TileRows);
                float* o = output + (long)t * w.Rows + rowBase;
                for (int r = 0; r < rowCount; r++)
                {
                    o[r] = result[r];
                    o[w.Rows + r] = result[Int4Matrix.TileRows + r];
                }
            }
        }
        for (; t < lastToken; t++)
        {
            if (mode == ActivationMode.Int8)
            {
                sbyte* x = scratch.Int8 + (long)t * w.KPadded;
                float* scales = scratch.BlockScales + (long)t * blocks;
                int* sums = scratch.BlockSums + (long)t * blocks;
                switch (path)
                {
                    case KernelPath.Avx512: TileInt8Avx512(w, tile, x, scales, sums, result); break;
                    case KernelPath.Avx2Vnni: TileInt8Avx2(w, tile, x, scales, sums, result, vnni: true); break;
                    case KernelPath.Avx2: TileInt8Avx2(w, tile, x, scales, sums, result, vnni: false); break;
                    case KernelPath.Vector128: TileInt8Vector128(w, tile, x, scales, sums, result); break;
                    default: TileInt8Scalar(w, tile, x, scales, sums, result); break;
                }
            }
            else
            {
                float* x = scratch.Float32 + (long)t * w.KPadded;
                float* groupSums = scratch.GroupSums + (long)t * w.Groups;
                switch (path)
                {
                    case KernelPath.Avx512: TileFloat32Avx512(w, tile, x, groupSums, result); break;
                    case KernelPath.Avx2Vnni or KernelPath.Avx2: TileFloat32Avx2(w, tile, x, groupSums, result); break;
                    case KernelPath.Vector128: TileFloat32Vector128(w, tile, x, groupSums, result); break;
                    default: TileFloat32Scalar(w, tile, x, groupSums, result); break;
                }
            }
            float* o = output + (long)t * w.Rows + rowBase;
            for (int r = 0; r < rowCount; r++) o[r] = result[r];
        }
    }

    private static float HalfToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>The reference: one weight at a time, exactly the arithmetic the header describes.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileInt8Scalar(in Int4View w, int tile, sbyte* x, float* xScales, int* xSums, float* result)
    {
        int blocks = w.KPadded / w.BlockSize, chunksPerBlock = w.BlockSize / Int4Matrix.ChunkSize;
        byte* tq = w.Tile(tile);
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
                    byte* bytes = tq + (long)c * Int4Matrix.ChunkBytes + r * Int4Matrix.RowChunkBytes;
                    for (int j = 0; j < 32; j++)
                    {
                        int q = j < 16 ? bytes[j] & 0x0F : bytes[j - 16] >> 4;
                        dot += q * x[c * 32 + j];
                    }
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                float scale = HalfToFloat(scales[r]) * xScales[b];
                result[r] += (float)(dot - zero * xSums[b]) * scale;
            }
        }
    }

    /// <summary>The reference for FP32 activations: out[r] = sum over groups of scale * (sum(q * x) - zero * sum(x)).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    internal static void TileFloat32Scalar(in Int4View w, int tile, float* x, float* groupSums, float* result)
    {
        byte* tq = w.Tile(tile);
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
                    byte* bytes = tq + (long)c * Int4Matrix.ChunkBytes + r * Int4Matrix.RowChunkBytes;
                    for (int j = 0; j < 32; j++)
                    {
                        int q = j < 16 ? bytes[j] & 0x0F : bytes[j - 16] >> 4;
                        sum += q * x[c * 32 + j];
                    }
                }
                int zero = w.Zeros == null ? 8 : w.TileZeros(tile, g)[r];
                result[r] += HalfToFloat(scales[r]) * (sum - zero * groupSums[g]);
            }
        }
    }
}
