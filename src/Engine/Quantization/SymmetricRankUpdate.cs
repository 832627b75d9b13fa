using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// The lower triangle of S += XᵀX for a batch X (tokens, n) (BLAS's SYRK): each element summed over the batch's tokens
/// in float, token by token, each product rounded and then added (no fused multiply-add), then added to the double sum
/// once. Every path (AVX-512, AVX2, scalar) computes each element with exactly those operations in that order, so the
/// sums do not depend on the machine or on how the work is split, and they are bit for bit those of the row-by-row
/// loop this replaced (x_i · x[0..i] added to a float row per token), whose GPTQ results are therefore unchanged.
/// </summary>
/// <remarks>
/// The batch is first packed into panels of <see cref="PanelWidth"/> columns, (tokens, 16) each, so that a tile reads
/// contiguous memory whatever the matrix's width (rows of a 5,632-wide batch are 22 KB apart, which would alias in L1).
/// A tile of <see cref="TileRows"/> rows x 32 columns of the triangle is then held in 16 AVX-512 registers over the
/// batch's tokens: per token two loads of 16 columns and eight broadcasts feed 16 multiplies and 16 adds, where the
/// row-by-row axpy it replaces loaded and stored its float sum for every product. Fused multiply-adds measured about a
/// quarter faster here on Zen 4, but their sums are not the row-by-row loop's to the bit, and they moved GPTQ's results.
/// </remarks>
internal static unsafe class SymmetricRankUpdate
{
    public const int PanelWidth = 16;

    /// <summary>Rows of the triangle a tile (and a work item's row block) covers.</summary>
    public const int TileRows = 8;

    private const int TileColumns = 2 * PanelWidth;

    /// <summary>Floats <see cref="Pack"/> writes for a batch.</summary>
    public static long PackedLength(int tokens, int n) => (long)Panels(n) * tokens * PanelWidth;

    public static int Panels(int n) => (n + PanelWidth - 1) / PanelWidth;

    /// <summary>Row blocks of <see cref="TileRows"/>; block b costs about b + 1 tiles.</summary>
    public static int RowBlocks(int n) => (n + TileRows - 1) / TileRows;

    /// <summary>Panel p of the packed batch is (tokens, 16): packed[(p · tokens + t) · 16 + c] = x[t, 16p + c], zero past n.</summary>
    public static void Pack(float* x, int tokens, int n, float* packed)
    {
        int panels = Panels(n);
        for (int p = 0; p < panels; p++)
        {
            int c0 = p * PanelWidth, width = Math.Min(PanelWidth, n - c0);
            float* panel = packed + (long)p * tokens * PanelWidth;
            for (int t = 0; t < tokens; t++)
            {
                float* source = x + (long)t * n + c0, target = panel + (long)t * PanelWidth;
                int c = 0;
                for (; c < width; c++) target[c] = source[c];
                for (; c < PanelWidth; c++) target[c] = 0;
            }
        }
    }

    /// <summary>Adds the batch's products to rows [8 · block, 8 · block + 8) of the lower triangle of <paramref name="sums"/> ((n, n) row-major).</summary>
    /// <param name="width">Vector width to use: 16 (AVX-512), 8 (AVX2) or 1 (scalar); the result is the same.</param>
    public static void AddRowBlock(float* packed, int tokens, int n, int block, double* sums, int width)
    {
        int i0 = block * TileRows;
        float* rowPanel = packed + (long)(i0 / PanelWidth) * tokens * PanelWidth + i0 % PanelWidth;
        float* tile = stackalloc float[TileRows * TileColumns];
        int last = Math.Min(n, i0 + TileRows) - 1; // the block's last row: columns up to it are needed
        for (int j0 = 0; j0 <= last; j0 += TileColumns)
        {
            float* columnPanels = packed + (long)(j0 / PanelWidth) * tokens * PanelWidth;
            // The second panel of a tile may lie past the batch's last panel; it is then read as the first again and ignored.
            long secondOffset = j0 + PanelWidth < n ? (long)tokens * PanelWidth : 0;
            if (width == 16 && Vector512.IsHardwareAccelerated) Tile512(rowPanel, columnPanels, secondOffset, tokens, tile);
            else if (width >= 8 && Vector256.IsHardwareAccelerated) Tile256(rowPanel, columnPanels, secondOffset, tokens, tile);
            else TileScalar(rowPanel, columnPanels, secondOffset, tokens, tile);
            for (int r = 0; r < TileRows && i0 + r <= last; r++)
            {
                int i = i0 + r, count = Math.Min(TileColumns, i + 1 - j0);
                double* target = sums + (long)i * n + j0;
                float* source = tile + r * TileColumns;
                int c = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (; c + 16 <= count; c += 16)
                    {
                        var (lower, upper) = Vector512.Widen(Vector512.Load(source + c));
                        (Vector512.Load(target + c) + lower).Store(target + c);
                        (Vector512.Load(target + c + 8) + upper).Store(target + c + 8);
                    }
                for (; c < count; c++) target[c] += source[c];
            }
        }
    }

    /// <summary>tile[r, c] = Σ_t rowPanel[t, r] · columns[t, c] for 8 rows and 32 columns, in float, token by token.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512(float* rowPanel, float* columnPanels, long secondOffset, int tokens, float* tile)
    {
        Vector512<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default, s30 = default, s31 = default;
        Vector512<float> s40 = default, s41 = default, s50 = default, s51 = default, s60 = default, s61 = default, s70 = default, s71 = default;
        float* second = columnPanels + secondOffset;
        for (int t = 0; t < tokens; t++)
        {
            long at = (long)t * PanelWidth;
            var b0 = Vector512.Load(columnPanels + at);
            var b1 = Vector512.Load(second + at);
            float* a = rowPanel + at;
            var x = Vector512.Create(a[0]); s00 += x * b0; s01 += x * b1;
            x = Vector512.Create(a[1]); s10 += x * b0; s11 += x * b1;
            x = Vector512.Create(a[2]); s20 += x * b0; s21 += x * b1;
            x = Vector512.Create(a[3]); s30 += x * b0; s31 += x * b1;
            x = Vector512.Create(a[4]); s40 += x * b0; s41 += x * b1;
            x = Vector512.Create(a[5]); s50 += x * b0; s51 += x * b1;
            x = Vector512.Create(a[6]); s60 += x * b0; s61 += x * b1;
            x = Vector512.Create(a[7]); s70 += x * b0; s71 += x * b1;
        }
        s00.Store(tile); s01.Store(tile + 16); s10.Store(tile + 32); s11.Store(tile + 48);
        s20.Store(tile + 64); s21.Store(tile + 80); s30.Store(tile + 96); s31.Store(tile + 112);
        s40.Store(tile + 128); s41.Store(tile + 144); s50.Store(tile + 160); s51.Store(tile + 176);
        s60.Store(tile + 192); s61.Store(tile + 208); s70.Store(tile + 224); s71.Store(tile + 240);
    }

    /// <summary>As <see cref="Tile512"/> with 8-wide vectors: four rows at a time, so the sums fit AVX2's 16 registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256(float* rowPanel, float* columnPanels, long secondOffset, int tokens, float* tile)
    {
        float* second = columnPanels + secondOffset;
        for (int half = 0; half < 2; half++)
        {
            Vector256<float> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
            Vector256<float> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
            for (int t = 0; t < tokens; t++)
            {
                long at = (long)t * PanelWidth;
                var b0 = Vector256.Load(columnPanels + at);
                var b1 = Vector256.Load(columnPanels + at + 8);
                var b2 = Vector256.Load(second + at);
                var b3 = Vector256.Load(second + at + 8);
                float* a = rowPanel + at + 4 * half;
                var x = Vector256.Create(a[0]);
                s00 += x * b0; s01 += x * b1; s02 += x * b2; s03 += x * b3;
                x = Vector256.Create(a[1]);
                s10 += x * b0; s11 += x * b1; s12 += x * b2; s13 += x * b3;
                x = Vector256.Create(a[2]);
                s20 += x * b0; s21 += x * b1; s22 += x * b2; s23 += x * b3;
                x = Vector256.Create(a[3]);
                s30 += x * b0; s31 += x * b1; s32 += x * b2; s33 += x * b3;
            }
            float* rows = tile + 4 * half * TileColumns;
            s00.Store(rows); s01.Store(rows + 8); s02.Store(rows + 16); s03.Store(rows + 24);
            s10.Store(rows + 32); s11.Store(rows + 40); s12.Store(rows + 48); s13.Store(rows + 56);
            s20.Store(rows + 64); s21.Store(rows + 72); s22.Store(rows + 80); s23.Store(rows + 88);
            s30.Store(rows + 96); s31.Store(rows + 104); s32.Store(rows + 112); s33.Store(rows + 120);
        }
    }

    private static void TileScalar(float* rowPanel, float* columnPanels, long secondOffset, int tokens, float* tile)
    {
        for (int r = 0; r < TileRows; r++)
            for (int c = 0; c < TileColumns; c++)
            {
                float* column = (c < PanelWidth ? columnPanels : columnPanels + secondOffset) + c % PanelWidth;
                float sum = 0;
                for (int t = 0; t < tokens; t++) sum += rowPanel[(long)t * PanelWidth + r] * column[(long)t * PanelWidth];
                tile[r * TileColumns + c] = sum;
            }
    }
}
