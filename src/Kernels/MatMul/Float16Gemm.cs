using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlmCpu.Kernels.Ops;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Kernels.MatMul;

/// <summary>
/// FP16 weights times several tokens of FP32 activations (a prefill), register-blocked. A GEMV per token would widen
/// every FP16 weight once per token and load a weight and an activation for each multiply-add. Here a block of four
/// rows by <see cref="BlockColumns"/> columns is widened to FP32 once, on the stack (it stays in L1), and then
/// multiplied against every token of a token block, a few tokens at a time: each step of a kernel loads four weight
/// vectors and one activation vector per token and does four multiply-adds per token, with all 4 x T accumulators in
/// registers. Partial sums of a column block are reduced across lanes and added into the output, which the first block
/// writes. Up to 16 tokens skip the widened block (see <see cref="MultiplyFew"/>) with the same results.
/// </summary>
internal static unsafe class Float16Gemm
{
    /// <summary>Rows of a register tile (and of a widened block).</summary>
    internal const int TileRows = 4;

    /// <summary>Columns widened at once: 4 x 1024 FP32 values, 16 KiB, half of L1, reused by every token of a block.</summary>
    internal const int BlockColumns = 1024;

    /// <summary>
    /// Activation bytes of one column block over a token block (tokens x BlockColumns x 4), so that they stay in L2 while
    /// every row tile of a worker's range passes over them.
    /// </summary>
    private const int TokenBlockBytes = 256 * 1024;

    /// <summary>Tokens a kernel call handles at most; its results go through a buffer this large.</summary>
    private const int MaxTokenGroup = 4;

    /// <summary>
    /// Up to this many tokens skip the widened block (<see cref="MultiplyFew"/>): a batched decode step of up to 16
    /// sequences. Widening a block and storing it costs as much as reading the weights directly a few times over, and
    /// with 8 tokens the widened path was slower than with 4 (`batch-profile tinyllama-1.1b-f16.gguf 2 8 16 greedy`,
    /// Avx512: 32.4 tokens/s aggregate widened, 56.2 direct; 16 sequences 48.6 and 61.0).
    /// </summary>
    private const int DirectTokens = 16;

    /// <summary>
    /// Output rows [<paramref name="rowBegin"/>, <paramref name="rowEnd"/>) for every token, on <paramref name="path"/>
    /// (Avx512, Avx2 or Avx2Vnni, Vector128; the caller runs Scalar itself).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    /// <param name="rowStates">
    /// Per row of the matrix, <see cref="RowUnchecked"/>, <see cref="RowFinite"/> or <see cref="RowNotFinite"/>, kept by
    /// the caller between calls; few tokens fill it in as they first read a row. Null: every row is widened with the
    /// fix-up for infinity and NaN.
    /// </param>
    public static void Multiply(KernelPath path, Half* weights, int columns, float* input, float* output, int outputStride,
        int tokens, int rowBegin, int rowEnd, byte* rowStates = null)
    {
        if (tokens <= DirectTokens && path is KernelPath.Avx512 or KernelPath.Avx2 or KernelPath.Avx2Vnni)
        {
            MultiplyFew(path, weights, columns, input, RebiasedInput(input, tokens * columns), output, outputStride, tokens, rowBegin, rowEnd, rowStates);
            return;
        }
        float* block = stackalloc float[TileRows * BlockColumns];
        float* sums = stackalloc float[MaxTokenGroup * TileRows];
        int tokenBlock = TokenBlockBytes / (BlockColumns * sizeof(float));
        for (int first = 0; first < tokens; first += tokenBlock)
        {
            int last = Math.Min(tokens, first + tokenBlock);
            for (int k0 = 0; k0 < columns; k0 += BlockColumns)
            {
                int width = Math.Min(BlockColumns, columns - k0);
                for (int row = rowBegin; row < rowEnd; row += TileRows)
                {
                    int rowCount = Math.Min(TileRows, rowEnd - row);
                    Widen(path, weights, columns, row, rowCount, k0, width, block);
                    for (int t = first; t < last;)
                    {
                        float* x = input + (long)t * columns + k0;
                        int count = Tile(path, block, width, x, columns, last - t, sums);
                        for (int i = 0; i < count; i++)
                        {
                            float* o = output + (long)(t + i) * outputStride + row;
                            float* s = sums + i * TileRows;
                            if (k0 == 0) for (int r = 0; r < rowCount; r++) o[r] = s[r];
                            else for (int r = 0; r < rowCount; r++) o[r] += s[r];
                        }
                        t += count;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Up to <see cref="DirectTokens"/> tokens (a decode step, a batched step): the weights are read once whatever the
    /// order, so the widened block would buy no reuse and cost a store and a load of every weight. Each kernel step
    /// widens four rows' 16 (or 8) weights in registers and multiplies them at once, and a row tile streams through all
    /// its columns before the next, so that the hardware prefetcher sees four long sequential reads. A token's sums are
    /// formed exactly as in the widened path (the same exact FP32 weights, the same lanes, the same column blocks in the
    /// same order, the same reduction), so a token gets the same bits alone as in a pass of many.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    /// <param name="rebiased">The input times 2^112 (<see cref="RebiasedInput"/>), or null; used with rows known to be finite.</param>
    private static void MultiplyFew(KernelPath path, Half* weights, int columns, float* input, float* rebiased, float* output, int outputStride,
        int tokens, int rowBegin, int rowEnd, byte* rowStates)
    {
        float* sums = stackalloc float[MaxTokenGroup * TileRows];
        for (int row = rowBegin; row < rowEnd; row += TileRows)
        {
            int rowCount = Math.Min(TileRows, rowEnd - row);
            bool finite = rowStates != null && RowsFinite(weights, columns, row, rowCount, rowStates);
            // Rows of a partial tile past the range repeat its first row: computed, never stored.
            Half* w0 = weights + (long)row * columns;
            Half* w1 = rowCount > 1 ? w0 + columns : w0, w2 = rowCount > 2 ? w0 + 2L * columns : w0, w3 = rowCount > 3 ? w0 + 3L * columns : w0;
            for (int k0 = 0; k0 < columns; k0 += BlockColumns)
            {
                int width = Math.Min(BlockColumns, columns - k0);
                for (int t = 0; t < tokens;)
                {
                    float* x = input + (long)t * columns + k0;
                    int count = finite && rebiased != null
                        ? DirectTile<RebiasedHalves>(path, (ushort*)w0 + k0, (ushort*)w1 + k0, (ushort*)w2 + k0, (ushort*)w3 + k0, width, rebiased + (long)t * columns + k0, columns, tokens - t, sums)
                        : finite
                        ? DirectTile<FiniteHalves>(path, (ushort*)w0 + k0, (ushort*)w1 + k0, (ushort*)w2 + k0, (ushort*)w3 + k0, width, x, columns, tokens - t, sums)
                        : DirectTile<AnyHalves>(path, (ushort*)w0 + k0, (ushort*)w1 + k0, (ushort*)w2 + k0, (ushort*)w3 + k0, width, x, columns, tokens - t, sums);
                    for (int i = 0; i < count; i++)
                    {
                        float* o = output + (long)(t + i) * outputStride + row;
                        float* s = sums + i * TileRows;
                        if (k0 == 0) for (int r = 0; r < rowCount; r++) o[r] = s[r];
                        else for (int r = 0; r < rowCount; r++) o[r] += s[r];
                    }
                    t += count;
                }
            }
        }
    }

    /// <summary>
    /// Each thread's copy of a few tokens' activations times 2^112 (<see cref="RebiasedInput"/>); it grows to the largest
    /// call and is then reused, so a decode step allocates nothing.
    /// </summary>
    [ThreadStatic] private static float[]? t_rebiased;

    /// <summary>
    /// The first <paramref name="count"/> activations times 2^112, so that the kernels can leave out the multiply that
    /// puts an FP16 weight's exponent in place (<see cref="HalfConversion.ToSingle16Rebiased"/>): a weight w read as
    /// w·2^-112 times x·2^112 is the same real product as w times x, so every sum gets the same bits, and a decode
    /// step saves one of the five operations it spends on each 16 weights of a row. Scaling by a power of two is exact
    /// while |x| &lt; 2^16; null where an activation is that large (or not finite), and the plain path runs.
    /// </summary>
    private static float* RebiasedInput(float* input, int count)
    {
        var x = new ReadOnlySpan<float>(input, count);
        // MaxMagnitude gives the element of largest magnitude, sign included.
        if (!(MathF.Abs(TensorPrimitives.MaxMagnitude(x)) < 65536f)) return null;
        var buffer = t_rebiased;
        if (buffer == null || buffer.Length < count) t_rebiased = buffer = GC.AllocateUninitializedArray<float>(Math.Max(count, 8192), pinned: true);
        TensorPrimitives.Multiply(x, HalfConversion.Rebias, buffer);
        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
    }

    /// <summary>A row no few-token multiplication has read yet (or one written since).</summary>
    internal const byte RowUnchecked = 0;

    /// <summary>A row with no infinity or NaN among its weights.</summary>
    internal const byte RowFinite = 1;

    /// <summary>A row with an infinity or a NaN: it is always widened with the fix-up, so its results are not finite.</summary>
    internal const byte RowNotFinite = 2;

    /// <summary>
    /// Whether rows [row, row + rowCount) are known to hold finite weights only; a row not checked yet is checked now,
    /// once (a read of its weights, the first time a decode reaches it).
    /// </summary>
    private static bool RowsFinite(Half* weights, int columns, int row, int rowCount, byte* rowStates)
    {
        bool finite = true;
        for (int r = row; r < row + rowCount; r++)
        {
            if (rowStates[r] == RowUnchecked)
                rowStates[r] = HalfConversion.AllFinite((ushort*)weights + (long)r * columns, columns) ? RowFinite : RowNotFinite;
            finite &= rowStates[r] == RowFinite;
        }
        return finite;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DirectTile<H>(KernelPath path, ushort* w0, ushort* w1, ushort* w2, ushort* w3, int width, float* x, int xStride, int available, float* sums)
        where H : struct, IHalfWidening
    {
        var rows = new HalfRows<H>(w0, w1, w2, w3);
        if (path == KernelPath.Avx512)
        {
            if (available >= 4) return Tile512<Four, HalfRows<H>>(rows, width, x, xStride, sums);
            if (available >= 2) return Tile512<Two, HalfRows<H>>(rows, width, x, xStride, sums);
            return Tile512<One, HalfRows<H>>(rows, width, x, xStride, sums);
        }
        if (available >= 2) return Tile256<Two, HalfRows<H>>(rows, width, x, xStride, sums);
        return Tile256<One, HalfRows<H>>(rows, width, x, xStride, sums);
    }

    /// <summary>
    /// Rows [row, row + rowCount) of columns [k0, k0 + width) to FP32, each row <see cref="BlockColumns"/> apart; the rows
    /// of a partial tile past the matrix are zeros, so the kernels always compute four rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Widen(KernelPath path, Half* weights, int columns, int row, int rowCount, int k0, int width, float* block)
    {
        for (int r = 0; r < TileRows; r++)
        {
            float* destination = block + r * BlockColumns;
            Half* source = weights + (long)(row + r) * columns + k0;
            if (r >= rowCount)
            {
                new Span<float>(destination, width).Clear();
            }
            else if (path == KernelPath.Avx512)
            {
                int k = 0;
                for (; k + 16 <= width; k += 16) HalfConversion.ToSingle16((ushort*)source + k).Store(destination + k);
                for (; k < width; k++) destination[k] = (float)source[k];
            }
            else if (path >= KernelPath.Avx2)
            {
                // HalfConversion's AVX2 widening is several times faster than TensorPrimitives' for halves.
                int k = 0;
                for (; k + 8 <= width; k += 8) HalfConversion.ToSingle8((ushort*)source + k).Store(destination + k);
                for (; k < width; k++) destination[k] = (float)source[k];
            }
            else
            {
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, width), new Span<float>(destination, width));
            }
        }
    }

    /// <summary>Runs the path's kernel on as many of <paramref name="available"/> tokens as it takes; returns how many it ran.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Tile(KernelPath path, float* block, int width, float* x, int xStride, int available, float* sums)
    {
        var rows = new WidenedRows(block);
        switch (path)
        {
            case KernelPath.Avx512:
                if (available >= 4) return Tile512<Four, WidenedRows>(rows, width, x, xStride, sums);
                if (available >= 2) return Tile512<Two, WidenedRows>(rows, width, x, xStride, sums);
                return Tile512<One, WidenedRows>(rows, width, x, xStride, sums);
            case KernelPath.Avx2 or KernelPath.Avx2Vnni:
                if (available >= 2) return Tile256<Two, WidenedRows>(rows, width, x, xStride, sums);
                return Tile256<One, WidenedRows>(rows, width, x, xStride, sums);
            default:
                if (available >= 2) return Tile128<Two>(block, width, x, xStride, sums);
                return Tile128<One>(block, width, x, xStride, sums);
        }
    }

    /// <summary>
    /// AVX-512: 4 rows x T (1, 2 or 4) tokens, 16 columns a step; up to 16 accumulators. The rows' weights come from
    /// <paramref name="w"/>: the widened block, or FP16 rows widened in registers as they are read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Tile512<T, R>(R w, int width, float* x, int xStride, float* sums) where T : struct, ITokenCount where R : struct, IFourRows
    {
        int whole = width & ~15;
        float* x1 = x + xStride, x2 = x + 2 * xStride, x3 = x + 3 * xStride;
        Vector512<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector512<float> a01 = default, a11 = default, a21 = default, a31 = default;
        Vector512<float> a02 = default, a12 = default, a22 = default, a32 = default;
        Vector512<float> a03 = default, a13 = default, a23 = default, a33 = default;
        for (int k = 0; k < whole; k += 16)
        {
            var v0 = Vector512.Load(x + k);
            var v1 = T.Value > 1 ? Vector512.Load(x1 + k) : default;
            var v2 = T.Value > 2 ? Vector512.Load(x2 + k) : default;
            var v3 = T.Value > 2 ? Vector512.Load(x3 + k) : default;
            var r = w.Wide16(0, k);
            a00 = Avx512F.FusedMultiplyAdd(r, v0, a00);
            if (T.Value > 1) a01 = Avx512F.FusedMultiplyAdd(r, v1, a01);
            if (T.Value > 2) { a02 = Avx512F.FusedMultiplyAdd(r, v2, a02); a03 = Avx512F.FusedMultiplyAdd(r, v3, a03); }
            r = w.Wide16(1, k);
            a10 = Avx512F.FusedMultiplyAdd(r, v0, a10);
            if (T.Value > 1) a11 = Avx512F.FusedMultiplyAdd(r, v1, a11);
            if (T.Value > 2) { a12 = Avx512F.FusedMultiplyAdd(r, v2, a12); a13 = Avx512F.FusedMultiplyAdd(r, v3, a13); }
            r = w.Wide16(2, k);
            a20 = Avx512F.FusedMultiplyAdd(r, v0, a20);
            if (T.Value > 1) a21 = Avx512F.FusedMultiplyAdd(r, v1, a21);
            if (T.Value > 2) { a22 = Avx512F.FusedMultiplyAdd(r, v2, a22); a23 = Avx512F.FusedMultiplyAdd(r, v3, a23); }
            r = w.Wide16(3, k);
            a30 = Avx512F.FusedMultiplyAdd(r, v0, a30);
            if (T.Value > 1) a31 = Avx512F.FusedMultiplyAdd(r, v1, a31);
            if (T.Value > 2) { a32 = Avx512F.FusedMultiplyAdd(r, v2, a32); a33 = Avx512F.FusedMultiplyAdd(r, v3, a33); }
        }
        Reduce4(a00, a10, a20, a30).Store(sums);
        if (T.Value > 1) Reduce4(a01, a11, a21, a31).Store(sums + TileRows);
        if (T.Value > 2) Reduce4(a02, a12, a22, a32).Store(sums + 2 * TileRows);
        if (T.Value > 2) Reduce4(a03, a13, a23, a33).Store(sums + 3 * TileRows);
        AddTail(w, whole, width, x, xStride, T.Value, sums);
        return T.Value;
    }

    /// <summary>AVX2 + FMA: 4 rows x T (1 or 2) tokens, 8 columns a step; eight accumulators (16 registers in all).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Tile256<T, R>(R w, int width, float* x, int xStride, float* sums) where T : struct, ITokenCount where R : struct, IFourRows
    {
        int whole = width & ~7;
        float* x1 = x + xStride;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector256<float> a01 = default, a11 = default, a21 = default, a31 = default;
        for (int k = 0; k < whole; k += 8)
        {
            var v0 = Vector256.Load(x + k);
            var v1 = T.Value > 1 ? Vector256.Load(x1 + k) : default;
            var r = w.Wide8(0, k);
            a00 = Fma.MultiplyAdd(r, v0, a00);
            if (T.Value > 1) a01 = Fma.MultiplyAdd(r, v1, a01);
            r = w.Wide8(1, k);
            a10 = Fma.MultiplyAdd(r, v0, a10);
            if (T.Value > 1) a11 = Fma.MultiplyAdd(r, v1, a11);
            r = w.Wide8(2, k);
            a20 = Fma.MultiplyAdd(r, v0, a20);
            if (T.Value > 1) a21 = Fma.MultiplyAdd(r, v1, a21);
            r = w.Wide8(3, k);
            a30 = Fma.MultiplyAdd(r, v0, a30);
            if (T.Value > 1) a31 = Fma.MultiplyAdd(r, v1, a31);
        }
        Reduce4(a00, a10, a20, a30).Store(sums);
        if (T.Value > 1) Reduce4(a01, a11, a21, a31).Store(sums + TileRows);
        AddTail(w, whole, width, x, xStride, T.Value, sums);
        return T.Value;
    }

    /// <summary>
    /// Portable 128-bit: 4 rows x T (1 or 2) tokens, 4 columns a step. Multiply-add where the hardware fuses it, else a
    /// multiply and an add (the 128-bit path also serves processors without FMA).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int Tile128<T>(float* w, int width, float* x, int xStride, float* sums) where T : struct, ITokenCount
    {
        int whole = width & ~3;
        float* w1 = w + BlockColumns, w2 = w + 2 * BlockColumns, w3 = w + 3 * BlockColumns;
        float* x1 = x + xStride;
        Vector128<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector128<float> a01 = default, a11 = default, a21 = default, a31 = default;
        for (int k = 0; k < whole; k += 4)
        {
            var v0 = Vector128.Load(x + k);
            var v1 = T.Value > 1 ? Vector128.Load(x1 + k) : default;
            var r = Vector128.Load(w + k);
            a00 = Vector128.MultiplyAddEstimate(r, v0, a00);
            if (T.Value > 1) a01 = Vector128.MultiplyAddEstimate(r, v1, a01);
            r = Vector128.Load(w1 + k);
            a10 = Vector128.MultiplyAddEstimate(r, v0, a10);
            if (T.Value > 1) a11 = Vector128.MultiplyAddEstimate(r, v1, a11);
            r = Vector128.Load(w2 + k);
            a20 = Vector128.MultiplyAddEstimate(r, v0, a20);
            if (T.Value > 1) a21 = Vector128.MultiplyAddEstimate(r, v1, a21);
            r = Vector128.Load(w3 + k);
            a30 = Vector128.MultiplyAddEstimate(r, v0, a30);
            if (T.Value > 1) a31 = Vector128.MultiplyAddEstimate(r, v1, a31);
        }
        Vector128.Create(Vector128.Sum(a00), Vector128.Sum(a10), Vector128.Sum(a20), Vector128.Sum(a30)).Store(sums);
        if (T.Value > 1) Vector128.Create(Vector128.Sum(a01), Vector128.Sum(a11), Vector128.Sum(a21), Vector128.Sum(a31)).Store(sums + TileRows);
        AddTail(new WidenedRows(w), whole, width, x, xStride, T.Value, sums);
        return T.Value;
    }

    /// <summary>The sums of four rows' 16 lanes, in one vector: halves added, then horizontal adds pair by pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Reduce4(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3) =>
        Reduce4(a0.GetLower() + a0.GetUpper(), a1.GetLower() + a1.GetUpper(), a2.GetLower() + a2.GetUpper(), a3.GetLower() + a3.GetUpper());

    /// <summary>The sums of four rows' 8 lanes, in one vector (lane r is row r).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Reduce4(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3)
    {
        // hadd(a0, a1) holds, per 128-bit half, [a0 pair, a0 pair, a1 pair, a1 pair]; a second hadd with rows 2-3 leaves
        // one partial sum of each row per half, and the halves' sum is the rows' sums.
        var h = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        return h.GetLower() + h.GetUpper();
    }

    /// <summary>Columns [whole, width) that fill no vector, one at a time, added to each token's four sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddTail<R>(R w, int whole, int width, float* x, int xStride, int tokens, float* sums) where R : struct, IFourRows
    {
        if (whole == width) return;
        for (int t = 0; t < tokens; t++)
        {
            float* xt = x + (long)t * xStride;
            for (int r = 0; r < TileRows; r++)
            {
                float sum = 0;
                for (int k = whole; k < width; k++) sum += w.At(r, k) * xt[k];
                sums[t * TileRows + r] += sum;
            }
        }
    }
}

/// <summary>
/// Four rows of weights as a tile kernel reads them, 16 or 8 FP32 values at a time or one by one; the row index is a
/// constant at every call, so the JIT resolves it.
/// </summary>
internal unsafe interface IFourRows
{
    Vector512<float> Wide16(int row, int k);

    Vector256<float> Wide8(int row, int k);

    float At(int row, int k);
}

/// <summary>The widened block: four rows of FP32, <see cref="Float16Gemm.BlockColumns"/> apart.</summary>
internal readonly unsafe struct WidenedRows(float* block) : IFourRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Wide16(int row, int k) => Vector512.Load(block + row * Float16Gemm.BlockColumns + k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Wide8(int row, int k) => Vector256.Load(block + row * Float16Gemm.BlockColumns + k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float At(int row, int k) => block[row * Float16Gemm.BlockColumns + k];
}

/// <summary>Four FP16 rows widened in registers as they are read, by <typeparamref name="H"/>.</summary>
internal readonly unsafe struct HalfRows<H>(ushort* row0, ushort* row1, ushort* row2, ushort* row3) : IFourRows where H : struct, IHalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort* Row(int row) => row switch { 0 => row0, 1 => row1, 2 => row2, _ => row3 };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<float> Wide16(int row, int k) => H.Widen16(Row(row) + k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Wide8(int row, int k) => H.Widen8(Row(row) + k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float At(int row, int k) => H.Widen1(Row(row)[k]);
}
