using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Engine.Numerics;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// C -= A · B for a tile of rows, with every element updated as <see cref="ScaledSubtraction"/> would update it one
/// term at a time: for k = 0, 1, ... in order, the product A[r,k] · B[k,j] rounded to float, then subtracted (no fused
/// multiply-add). GPTQ's lazy batch update is this product (the block's scaled errors times the block's rows of U);
/// computed in that order it is bit for bit the column-at-a-time update, whatever the block size, the vector width or
/// the tiling here.
/// </summary>
/// <remarks>
/// Register-blocked: a tile of 4 rows x 64 columns (16 AVX-512 registers, 4 x 32 with AVX2) stays in registers over
/// the whole depth, each row of B's strip is loaded once for the 4 rows, and the strip (depth x 64 floats, 32 KB at a
/// depth of 128) stays in L1 for every 4 rows of the tile. Keeping the multiply and the subtraction apart is what
/// makes the result the column-at-a-time loop's; it costs some speed (fused multiply-adds measured about a quarter
/// faster in <see cref="SymmetricRankUpdate"/>'s kernel on Zen 4).
/// </remarks>
internal static unsafe class OrderedBlockUpdate
{
    /// <param name="c">(rows, n), row stride <paramref name="ldc"/>; updated.</param>
    /// <param name="a">(rows, depth), row stride <paramref name="lda"/>.</param>
    /// <param name="b">(depth, n), row stride <paramref name="ldb"/>.</param>
    /// <param name="width">The widest vectors to use: 16 (AVX-512, where the machine has it), 8 (AVX2) or 1; the result is the same.</param>
    public static void Subtract(float* c, int ldc, float* a, int lda, float* b, int ldb, int rows, int depth, int n, int width = 16)
    {
        // A deep product in slices of the depth, one after another: every element still takes its terms in order,
        // and each slice's strip of B (Depth x 64 floats) stays in L1 for all the rows.
        for (int k0 = 0; k0 < depth; k0 += Depth)
            Slice(c, ldc, a + k0, lda, b + (long)k0 * ldb, ldb, rows, Math.Min(Depth, depth - k0), n, width);
    }

    /// <summary>The depth of B's strip that one pass over the rows takes: 128 x 64 floats, 32 KB.</summary>
    private const int Depth = 128;

    private static void Slice(float* c, int ldc, float* a, int lda, float* b, int ldb, int rows, int depth, int n, int width)
    {
        int j = 0;
        if (width >= 16 && Vector512.IsHardwareAccelerated) j = Strips<Float512, Vector512<float>>(c, ldc, a, lda, b, ldb, rows, depth, n);
        else if (width >= 8 && Vector256.IsHardwareAccelerated) j = Strips<Float256, Vector256<float>>(c, ldc, a, lda, b, ldb, rows, depth, n);
        for (int r = 0; r < rows; r++)
        {
            float* cr = c + (long)r * ldc, ar = a + (long)r * lda;
            for (int k = 0; k < depth; k++)
            {
                float e = ar[k];
                float* bk = b + (long)k * ldb;
                for (int jj = j; jj < n; jj++)
                {
                    float product = e * bk[jj];
                    cr[jj] -= product;
                }
            }
        }
    }

    /// <summary>The columns that whole vectors cover: strips of 4 vectors by tiles of 4 rows, then single vectors; returns the first column left.</summary>
    private static int Strips<L, TV>(float* c, int ldc, float* a, int lda, float* b, int ldb, int rows, int depth, int n)
        where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        int j = 0, strip = 4 * L.Count;
        for (; j + strip <= n; j += strip)
        {
            int r = 0;
            for (; r + 4 <= rows; r += 4) Tile<L, TV>(c + (long)r * ldc + j, ldc, a + (long)r * lda, lda, b + j, ldb, depth);
            for (; r < rows; r++) Row<L, TV>(c + (long)r * ldc + j, a + (long)r * lda, b + j, ldb, depth, 4);
        }
        for (; j + L.Count <= n; j += L.Count)
            for (int r = 0; r < rows; r++) Row<L, TV>(c + (long)r * ldc + j, a + (long)r * lda, b + j, ldb, depth, 1);
        return j;
    }

    /// <summary>4 rows x 4 vectors, in 16 registers over the whole depth; each product rounded, then subtracted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<L, TV>(float* c, int ldc, float* a, int lda, float* b, int ldb, int depth) where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        int w = L.Count;
        float* c0 = c, c1 = c + ldc, c2 = c + 2L * ldc, c3 = c + 3L * ldc;
        TV c00 = L.Load(c0), c01 = L.Load(c0 + w), c02 = L.Load(c0 + 2 * w), c03 = L.Load(c0 + 3 * w);
        TV c10 = L.Load(c1), c11 = L.Load(c1 + w), c12 = L.Load(c1 + 2 * w), c13 = L.Load(c1 + 3 * w);
        TV c20 = L.Load(c2), c21 = L.Load(c2 + w), c22 = L.Load(c2 + 2 * w), c23 = L.Load(c2 + 3 * w);
        TV c30 = L.Load(c3), c31 = L.Load(c3 + w), c32 = L.Load(c3 + 2 * w), c33 = L.Load(c3 + 3 * w);
        float* a0 = a, a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda;
        for (int k = 0; k < depth; k++)
        {
            float* bk = b + (long)k * ldb;
            TV b0 = L.Load(bk), b1 = L.Load(bk + w), b2 = L.Load(bk + 2 * w), b3 = L.Load(bk + 3 * w);
            TV e = L.Broadcast(a0[k]);
            c00 = L.Subtract(c00, L.Multiply(e, b0)); c01 = L.Subtract(c01, L.Multiply(e, b1)); c02 = L.Subtract(c02, L.Multiply(e, b2)); c03 = L.Subtract(c03, L.Multiply(e, b3));
            e = L.Broadcast(a1[k]);
            c10 = L.Subtract(c10, L.Multiply(e, b0)); c11 = L.Subtract(c11, L.Multiply(e, b1)); c12 = L.Subtract(c12, L.Multiply(e, b2)); c13 = L.Subtract(c13, L.Multiply(e, b3));
            e = L.Broadcast(a2[k]);
            c20 = L.Subtract(c20, L.Multiply(e, b0)); c21 = L.Subtract(c21, L.Multiply(e, b1)); c22 = L.Subtract(c22, L.Multiply(e, b2)); c23 = L.Subtract(c23, L.Multiply(e, b3));
            e = L.Broadcast(a3[k]);
            c30 = L.Subtract(c30, L.Multiply(e, b0)); c31 = L.Subtract(c31, L.Multiply(e, b1)); c32 = L.Subtract(c32, L.Multiply(e, b2)); c33 = L.Subtract(c33, L.Multiply(e, b3));
        }
        L.Store(c00, c0); L.Store(c01, c0 + w); L.Store(c02, c0 + 2 * w); L.Store(c03, c0 + 3 * w);
        L.Store(c10, c1); L.Store(c11, c1 + w); L.Store(c12, c1 + 2 * w); L.Store(c13, c1 + 3 * w);
        L.Store(c20, c2); L.Store(c21, c2 + w); L.Store(c22, c2 + 2 * w); L.Store(c23, c2 + 3 * w);
        L.Store(c30, c3); L.Store(c31, c3 + w); L.Store(c32, c3 + 2 * w); L.Store(c33, c3 + 3 * w);
    }

    /// <summary>One row, <paramref name="vectors"/> vectors of columns.</summary>
    private static void Row<L, TV>(float* c, float* a, float* b, int ldb, int depth, int vectors) where L : struct, IVectorLanes<TV, float> where TV : struct
    {
        for (int v = 0; v < vectors; v++)
        {
            float* cv = c + v * L.Count;
            TV acc = L.Load(cv);
            for (int k = 0; k < depth; k++) acc = L.Subtract(acc, L.Multiply(L.Broadcast(a[k]), L.Load(b + (long)k * ldb + v * L.Count)));
            L.Store(acc, cv);
        }
    }
}
