using System.Runtime.CompilerServices;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// A tile kernel with its operands bound (a path, a matrix's view, its scales, the prepared activations): what
/// <see cref="TileDriver"/> runs over a range of tiles. Kernels are structs and the driver is generic over them, so
/// the JIT compiles one driver per kernel with <see cref="Run"/> inlined: no virtual call per tile.
/// </summary>
internal unsafe interface ITileKernel
{
    /// <summary>Rows of the matrix; the last tile may hold fewer than eight.</summary>
    int Rows { get; }

    /// <summary>Bytes of one token's prepared activations, which sets how many tokens a token block holds.</summary>
    int ActivationBytesPerToken { get; }

    /// <summary>
    /// The eight outputs of tile <paramref name="tile"/> for tokens from <paramref name="token"/> on, as many of
    /// <paramref name="available"/> as the kernel takes at once (at most <see cref="TileDriver.MaxTokenGroup"/>), into
    /// <paramref name="result"/> (eight values per token); returns how many tokens it ran.
    /// </summary>
    int Run(int tile, int token, int available, float* result);
}

/// <summary>
/// The loop every tiled matrix's multiplication shares: tokens in blocks that fit in L2 and, for each block, every
/// tile of the range, each tile's results copied to the output rows it covers. Each tile's weights then come from
/// memory once per block and from L1 for the block's other tokens.
/// </summary>
internal static unsafe class TileDriver
{
    /// <summary>
    /// Activation bytes a token block may occupy, so that it stays in L2 (512 KB and more on the processors this runs
    /// on) while every tile of a range passes over it: 64 tokens of INT8 activations up to 6144 columns wide.
    /// </summary>
    internal const int TokenBlockBytes = 384 * 1024;

    /// <summary>Tokens a block holds at most: a tile's weights are read from memory once per block, from cache for its other tokens.</summary>
    internal const int MaxTokenBlock = 64;

    /// <summary>Tokens a kernel call handles at most (the AVX-512 kernel for blocks of one chunk); results go through a buffer this large.</summary>
    internal const int MaxTokenGroup = 16;

    /// <summary>
    /// Tokens of a block for activations of <paramref name="bytesPerToken"/>: as many as fit in
    /// <see cref="TokenBlockBytes"/>, at most <see cref="MaxTokenBlock"/>, and a whole number of the largest kernel
    /// calls when a block holds that many, so that no block ends in a run of smaller, slower calls.
    /// </summary>
    internal static int TokenBlock(int bytesPerToken)
    {
        int tokens = Math.Clamp(TokenBlockBytes / bytesPerToken, 1, MaxTokenBlock);
        return tokens >= MaxTokenGroup ? tokens / MaxTokenGroup * MaxTokenGroup : tokens;
    }

    /// <summary>Output rows of tiles [<paramref name="tileBegin"/>, <paramref name="tileEnd"/>) for every token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply<K>(ref K kernel, float* output, int outputStride, int tokens, int tileBegin, int tileEnd)
        where K : struct, ITileKernel
    {
        int tokenBlock = TokenBlock(kernel.ActivationBytesPerToken);
        float* result = stackalloc float[MaxTokenGroup * Int4Matrix.TileRows];
        for (int first = 0; first < tokens; first += tokenBlock)
        {
            int last = Math.Min(tokens, first + tokenBlock);
            for (int tile = tileBegin; tile < tileEnd; tile++)
            {
                int rowBase = tile * Int4Matrix.TileRows, rowCount = Math.Min(Int4Matrix.TileRows, kernel.Rows - rowBase);
                for (int t = first; t < last;)
                {
                    int count = kernel.Run(tile, t, last - t, result);
                    for (int i = 0; i < count; i++)
                    {
                        float* o = output + (long)(t + i) * outputStride + rowBase;
                        float* tileResult = result + i * Int4Matrix.TileRows;
                        // A whole tile's eight outputs as one 32-byte copy (a vector move or two), where a loop of
                        // single stores was 3-4% of a batched decode step's time (perf, eight sequences). `gemm-shape 11264 2048 8 128`
                        // (one thread, from cache, AMD Zen 5, AVX-512), three alternated runs: 481-493 -> 500-502 GOPS median.
                        if (rowCount == Int4Matrix.TileRows) Unsafe.CopyBlockUnaligned(o, tileResult, Int4Matrix.TileRows * sizeof(float));
                        else for (int r = 0; r < rowCount; r++) o[r] = tileResult[r];
                    }
                    t += count;
                }
            }
        }
    }
}
