using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
        if (width >= 16 && Vector512.IsHardwareAccelerated)
        {
            for (; j + 64 <= n; j += 64)
            {
                int r = 0;
                for (; r + 4 <= rows; r += 4) Tile512x4(c + (long)r * ldc + j, ldc, a + (long)r * lda, lda, b + j, ldb, depth);
                for (; r < rows; r++) Row512(c + (long)r * ldc + j, a + (long)r * lda, b + j, ldb, depth, 4);
            }
            for (; j + 16 <= n; j += 16)
                for (int r = 0; r < rows; r++) Row512(c + (long)r * ldc + j, a + (long)r * lda, b + j, ldb, depth, 1);
        }
        else if (width >= 8 && Vector256.IsHardwareAccelerated)
        {
            for (; j + 32 <= n; j += 32)
            {
                int r = 0;
                for (; r + 4 <= rows; r += 4) Tile256x4(c + (long)r * ldc + j, ldc, a + (long)r * lda, lda, b + j, ldb, depth);
                for (; r < rows; r++) Row256(c + (long)r * ldc + j, a + (long)r * lda, b + j, ldb, depth, 4);
            }
            for (; j + 8 <= n; j += 8)
                for (int r = 0; r < rows; r++) Row256(c + (long)r * ldc + j, a + (long)r * lda, b + j, ldb, depth, 1);
        }
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512x4(float* c, int ldc, float* a, int lda, float* b, int ldb, int depth)
    {
        float* c0 = c, c1 = c + ldc, c2 = c + 2L * ldc, c3 = c + 3L * ldc;
        var c00 = Vector512.Load(c0); var c01 = Vector512.Load(c0 + 16); var c02 = Vector512.Load(c0 + 32); var c03 = Vector512.Load(c0 + 48);
        var c10 = Vector512.Load(c1); var c11 = Vector512.Load(c1 + 16); var c12 = Vector512.Load(c1 + 32); var c13 = Vector512.Load(c1 + 48);
        var c20 = Vector512.Load(c2); var c21 = Vector512.Load(c2 + 16); var c22 = Vector512.Load(c2 + 32); var c23 = Vector512.Load(c2 + 48);
        var c30 = Vector512.Load(c3); var c31 = Vector512.Load(c3 + 16); var c32 = Vector512.Load(c3 + 32); var c33 = Vector512.Load(c3 + 48);
        float* a0 = a, a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda;
        for (int k = 0; k < depth; k++)
        {
            float* bk = b + (long)k * ldb;
            var b0 = Vector512.Load(bk); var b1 = Vector512.Load(bk + 16); var b2 = Vector512.Load(bk + 32); var b3 = Vector512.Load(bk + 48);
            var e = Vector512.Create(a0[k]);
            c00 -= e * b0; c01 -= e * b1; c02 -= e * b2; c03 -= e * b3;
            e = Vector512.Create(a1[k]);
            c10 -= e * b0; c11 -= e * b1; c12 -= e * b2; c13 -= e * b3;
            e = Vector512.Create(a2[k]);
            c20 -= e * b0; c21 -= e * b1; c22 -= e * b2; c23 -= e * b3;
            e = Vector512.Create(a3[k]);
            c30 -= e * b0; c31 -= e * b1; c32 -= e * b2; c33 -= e * b3;
        }
        c00.Store(c0); c01.Store(c0 + 16); c02.Store(c0 + 32); c03.Store(c0 + 48);
        c10.Store(c1); c11.Store(c1 + 16); c12.Store(c1 + 32); c13.Store(c1 + 48);
        c20.Store(c2); c21.Store(c2 + 16); c22.Store(c2 + 32); c23.Store(c2 + 48);
        c30.Store(c3); c31.Store(c3 + 16); c32.Store(c3 + 32); c33.Store(c3 + 48);
    }

    /// <summary>One row, <paramref name="vectors"/> x 16 columns.</summary>
    private static void Row512(float* c, float* a, float* b, int ldb, int depth, int vectors)
    {
        for (int v = 0; v < vectors; v++)
        {
            var acc = Vector512.Load(c + 16 * v);
            for (int k = 0; k < depth; k++) acc -= Vector512.Create(a[k]) * Vector512.Load(b + (long)k * ldb + 16 * v);
            acc.Store(c + 16 * v);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256x4(float* c, int ldc, float* a, int lda, float* b, int ldb, int depth)
    {
        float* c0 = c, c1 = c + ldc, c2 = c + 2L * ldc, c3 = c + 3L * ldc;
        var c00 = Vector256.Load(c0); var c01 = Vector256.Load(c0 + 8); var c02 = Vector256.Load(c0 + 16); var c03 = Vector256.Load(c0 + 24);
        var c10 = Vector256.Load(c1); var c11 = Vector256.Load(c1 + 8); var c12 = Vector256.Load(c1 + 16); var c13 = Vector256.Load(c1 + 24);
        var c20 = Vector256.Load(c2); var c21 = Vector256.Load(c2 + 8); var c22 = Vector256.Load(c2 + 16); var c23 = Vector256.Load(c2 + 24);
        var c30 = Vector256.Load(c3); var c31 = Vector256.Load(c3 + 8); var c32 = Vector256.Load(c3 + 16); var c33 = Vector256.Load(c3 + 24);
        float* a0 = a, a1 = a + lda, a2 = a + 2L * lda, a3 = a + 3L * lda;
        for (int k = 0; k < depth; k++)
        {
            float* bk = b + (long)k * ldb;
            var b0 = Vector256.Load(bk); var b1 = Vector256.Load(bk + 8); var b2 = Vector256.Load(bk + 16); var b3 = Vector256.Load(bk + 24);
            var e = Vector256.Create(a0[k]);
            c00 -= e * b0; c01 -= e * b1; c02 -= e * b2; c03 -= e * b3;
            e = Vector256.Create(a1[k]);
            c10 -= e * b0; c11 -= e * b1; c12 -= e * b2; c13 -= e * b3;
            e = Vector256.Create(a2[k]);
            c20 -= e * b0; c21 -= e * b1; c22 -= e * b2; c23 -= e * b3;
            e = Vector256.Create(a3[k]);
            c30 -= e * b0; c31 -= e * b1; c32 -= e * b2; c33 -= e * b3;
        }
        c00.Store(c0); c01.Store(c0 + 8); c02.Store(c0 + 16); c03.Store(c0 + 24);
        c10.Store(c1); c11.Store(c1 + 8); c12.Store(c1 + 16); c13.Store(c1 + 24);
        c20.Store(c2); c21.Store(c2 + 8); c22.Store(c2 + 16); c23.Store(c2 + 24);
        c30.Store(c3); c31.Store(c3 + 8); c32.Store(c3 + 16); c33.Store(c3 + 24);
    }

    private static void Row256(float* c, float* a, float* b, int ldb, int depth, int vectors)
    {
        for (int v = 0; v < vectors; v++)
        {
            var acc = Vector256.Load(c + 8 * v);
            for (int k = 0; k < depth; k++) acc -= Vector256.Create(a[k]) * Vector256.Load(b + (long)k * ldb + 8 * v);
            acc.Store(c + 8 * v);
        }
    }
}
