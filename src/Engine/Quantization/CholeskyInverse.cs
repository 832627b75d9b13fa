using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Engine.Numerics;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// The upper Cholesky factor U of the inverse of a symmetric positive definite matrix H (H⁻¹ = UᵀU), which GPTQ
/// reads row by row: row i of U, divided by U[i,i], is how the error of column i spreads over the columns after it.
/// </summary>
/// <remarks>
/// Computed with one Cholesky factorization and one triangular inverse instead of factor, invert, factor again: with
/// J the reversal permutation, factor J H J = M Mᵀ (M lower); then H = R Rᵀ with R = J M J upper, so
/// H⁻¹ = (R⁻¹)ᵀ R⁻¹ and U = R⁻¹ = J M⁻¹ J. Both steps run in double on every thread of the pool.
/// </remarks>
public static class CholeskyInverse
{
    /// <summary>
    /// The widest vectors of doubles the dot products use where the machine has them: 8 (AVX-512); 4 (AVX2) and 1
    /// (scalar) are what a test passes to run the narrower paths here. Each sums in its own order, so the results agree
    /// to double rounding, not bit for bit.
    /// </summary>
    public const int WidestVectors = 8;

    /// <summary>U, (n, n) row-major with zeros below the diagonal, or null when H is not positive definite.</summary>
    public static double[]? UpperFactorOfInverse(ReadOnlySpan<double> h, int n, WorkerPool pool, int width = WidestVectors)
    {
        if (h.Length < (long)n * n) throw new ArgumentException($"{n} x {n} values are needed.", nameof(h));
        var reversed = h.Slice(0, n * n).ToArray();
        reversed.AsSpan().Reverse();
        if (!CholeskyLower(reversed, n, pool, width)) return null;
        // Written over the factor, no longer needed, so a 5,632-wide H costs two n x n buffers instead of four.
        var columns = InverseColumns(reversed, n, pool, width);
        var u = reversed;
        for (int i = 0; i < n; i++)
        {
            u.AsSpan((int)((long)i * n), i).Clear();
            for (int j = i; j < n; j++) u[(long)i * n + j] = UpperEntry(columns, n, i, j);
        }
        return u;
    }

    /// <summary>
    /// U in float, as GPTQ's row updates read it, of H + shift·I for the first shift in <paramref name="shifts"/> that
    /// makes it positive definite (null if none does), computed in <paramref name="h"/>'s own array, whose contents are
    /// lost: a 5,632-wide H then costs itself, the inverse's columns and U's floats (635 MB) where a copy of H would
    /// add 254 MB more. A failed attempt has overwritten part of the lower triangle; the upper one is untouched
    /// (<see cref="CholeskyLower"/>), and J H J is symmetric, so the lower triangle is mirrored back from it.
    /// </summary>
    internal static float[]? FloatUpperFactorOfInverseInPlace(double[] h, int n, ReadOnlySpan<double> shifts, WorkerPool pool)
    {
        if (h.Length != (long)n * n) throw new ArgumentException($"{n} x {n} values are needed.", nameof(h));
        var reversed = h;
        reversed.AsSpan().Reverse();
        var diagonal = new double[n];
        for (int i = 0; i < n; i++) diagonal[i] = reversed[(long)i * n + i];
        foreach (double shift in shifts)
        {
            for (int i = 0; i < n; i++) reversed[(long)i * n + i] = diagonal[i] + shift;
            if (CholeskyLower(reversed, n, pool, WidestVectors))
            {
                var columns = InverseColumns(reversed, n, pool, WidestVectors);
                var u = new float[(long)n * n];
                for (int i = 0; i < n; i++)
                    for (int j = i; j < n; j++) u[(long)i * n + j] = (float)UpperEntry(columns, n, i, j);
                return u;
            }
            for (int i = 1; i < n; i++)
                for (int j = 0; j < i; j++) reversed[(long)i * n + j] = reversed[(long)j * n + i];
        }
        return null;
    }

    /// <summary>
    /// U[i, j] = M⁻¹[n-1-i, n-1-j] (J H J = M Mᵀ, see the remarks), read from the inverse's columns as
    /// <see cref="InverseColumns"/> leaves them (row c of <paramref name="columns"/> is column c of M⁻¹).
    /// </summary>
    private static double UpperEntry(double[] columns, int n, int i, int j) => columns[(long)(n - 1 - j) * n + (n - 1 - i)];

    /// <summary>
    /// Columns a panel of the factorization (and a work item of the inverse) takes together. Every entry's dot product
    /// of two row prefixes is split at the panel's first column: the part before it, for a block of rows and all the
    /// panel's columns at once, is a product of row prefixes (<see cref="RowProducts"/>, register-blocked, each
    /// row of the panel read once for 4 rows below it); the few terms inside the panel follow one by one. The panel's
    /// rows (16 x 5,632 doubles, 720 KB at the widest GPTQ input of a 1.1B model) stay in cache for every row below.
    /// </summary>
    internal const int Panel = 16;

    /// <summary>Rows below a panel that one work item (and one block of <see cref="RowProducts"/>) takes.</summary>
    private const int Rows = 4;

    /// <summary>
    /// Factors a in place into its lower Cholesky factor L (a = L Lᵀ; the upper triangle is left as it was). A panel of
    /// <see cref="Panel"/> columns at a time: the panel's rows in order (each L[j,j] from row j's prefix), then every
    /// block of rows below it, in parallel, its entries in the panel's columns (each L[i,j] from the dot product of two
    /// row prefixes). False when a pivot is not positive.
    /// </summary>
    public static unsafe bool CholeskyLower(double[] a, int n, WorkerPool pool, int width = WidestVectors)
    {
        fixed (double* ap = a)
        {
            var job = new PanelJob(ap, n, width);
            double* products = stackalloc double[Panel * Panel];
            for (int j0 = 0; j0 < n; j0 += Panel)
            {
                int j1 = Math.Min(n, j0 + Panel);
                // The panel's own rows, in order: each needs the rows above it in the panel, diagonal included.
                RowProducts(ap, n, j0, j1 - j0, ap + (long)j0 * n, j1 - j0, 0, j0, products, width);
                for (int i = j0; i < j1; i++)
                {
                    double* rowI = ap + (long)i * n;
                    Entries(ap, n, rowI, products + (i - j0) * Panel, j0, i);
                    double sum = products[(i - j0) * Panel + i - j0];
                    for (int k = j0; k < i; k++) sum += rowI[k] * rowI[k];
                    double pivot = rowI[i] - sum;
                    if (!(pivot > 0) || !double.IsFinite(pivot)) return false;
                    rowI[i] = Math.Sqrt(pivot);
                }
                // The blocks of rows below, each on its own given the panel's rows. Small panels are not worth a hand-off to the workers.
                job.First = j0;
                job.Last = j1;
                int blocks = (n - j1 + Rows - 1) / Rows;
                if ((long)(n - j1) * j1 < 16_384) ((IRangeJob)job).Execute(0, blocks);
                else pool.Run(job, blocks);
            }
        }
        return true;
    }

    /// <summary>
    /// L[i, j] = (A[i, j] - L[i, 0..j) · L[j, 0..j)) / L[j, j] for j in [first, last): row i's entries in a panel's
    /// columns, given the dot products' parts before the panel (<paramref name="before"/>[j - first]).
    /// </summary>
    private static unsafe void Entries(double* a, int n, double* rowI, double* before, int first, int last)
    {
        for (int j = first; j < last; j++)
        {
            double* rowJ = a + (long)j * n;
            double sum = before[j - first];
            for (int k = first; k < j; k++) sum += rowI[k] * rowJ[k];
            rowI[j] = (rowI[j] - sum) / rowJ[j];
        }
    }

    private sealed unsafe class PanelJob(double* a, int n, int width) : IRangeJob
    {
        public int First, Last;

        public void Execute(int begin, int end)
        {
            double* products = stackalloc double[Rows * Panel];
            for (int block = begin; block < end; block++)
            {
                int i0 = Last + block * Rows, rows = Math.Min(Rows, n - i0);
                RowProducts(a + (long)i0 * n, n, 0, rows, a + (long)First * n, Last - First, 0, First, products, width);
                for (int r = 0; r < rows; r++) Entries(a, n, a + (long)(i0 + r) * n, products + r * Panel, First, Last);
            }
        }
    }

    /// <summary>
    /// products[r · Panel + c] = Σ_{k in [begin, end)} X[r, k] · Y[c, k] for <paramref name="rows"/> rows of X (from
    /// row <paramref name="firstRow"/> of <paramref name="x"/>) and <paramref name="columns"/> rows of Y (at most
    /// <see cref="Panel"/>), all rows at stride n: 4 x 4 dot products at a time, 16 vector sums over k.
    /// </summary>
    private static unsafe void RowProducts(double* x, int n, int firstRow, int rows, double* y, int columns, int begin, int end, double* products, int width)
    {
        double* tile = stackalloc double[16];
        for (int r0 = 0; r0 < rows; r0 += 4)
            for (int c0 = 0; c0 < columns; c0 += 4)
            {
                // Past the last row (or column), the last one is read again and its products dropped.
                double* x0 = x + (long)(firstRow + r0) * n, y0 = y + (long)c0 * n;
                long xs = n, ys = n;
                int xr = Math.Min(4, rows - r0), yc = Math.Min(4, columns - c0);
                DotTile(x0, x0 + Math.Min(1, xr - 1) * xs, x0 + Math.Min(2, xr - 1) * xs, x0 + Math.Min(3, xr - 1) * xs,
                    y0, y0 + Math.Min(1, yc - 1) * ys, y0 + Math.Min(2, yc - 1) * ys, y0 + Math.Min(3, yc - 1) * ys, begin, end, tile, width);
                for (int r = 0; r < xr; r++)
                    for (int c = 0; c < yc; c++) products[(r0 + r) * Panel + c0 + c] = tile[r * 4 + c];
            }
    }

    /// <summary>tile[4r + c] = Σ_{k in [begin, end)} x_r[k] · y_c[k]: eight-wide (AVX-512) or four-wide vector sums, fused, then the remainder.</summary>
    private static unsafe void DotTile(double* x0, double* x1, double* x2, double* x3, double* y0, double* y1, double* y2, double* y3, int begin, int end, double* tile, int width)
    {
        int k = begin;
        new Span<double>(tile, 16).Clear();
        if (width >= 8 && Vector512.IsHardwareAccelerated && end - begin >= 8) k = VectorSums<Double512, Vector512<double>>(x0, x1, x2, x3, y0, y1, y2, y3, begin, end, tile);
        else if (width >= 4 && Vector256.IsHardwareAccelerated && end - begin >= 4) k = VectorSums<Double256, Vector256<double>>(x0, x1, x2, x3, y0, y1, y2, y3, begin, end, tile);
        for (; k < end; k++)
        {
            double a0 = x0[k], a1 = x1[k], a2 = x2[k], a3 = x3[k], b0 = y0[k], b1 = y1[k], b2 = y2[k], b3 = y3[k];
            tile[0] += a0 * b0; tile[1] += a0 * b1; tile[2] += a0 * b2; tile[3] += a0 * b3;
            tile[4] += a1 * b0; tile[5] += a1 * b1; tile[6] += a1 * b2; tile[7] += a1 * b3;
            tile[8] += a2 * b0; tile[9] += a2 * b1; tile[10] += a2 * b2; tile[11] += a2 * b3;
            tile[12] += a3 * b0; tile[13] += a3 * b1; tile[14] += a3 * b2; tile[15] += a3 * b3;
        }
    }

    /// <summary>The 16 sums over whole vectors from <paramref name="begin"/>, written to the tile; returns where the vectors stopped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int VectorSums<L, TV>(double* x0, double* x1, double* x2, double* x3, double* y0, double* y1, double* y2, double* y3, int begin, int end, double* tile)
        where L : struct, IVectorLanes<TV, double> where TV : struct
    {
        TV s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
        TV s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
        int k = begin;
        for (; k + L.Count <= end; k += L.Count)
        {
            TV b0 = L.Load(y0 + k), b1 = L.Load(y1 + k), b2 = L.Load(y2 + k), b3 = L.Load(y3 + k);
            TV a = L.Load(x0 + k);
            s00 = L.MultiplyAdd(a, b0, s00); s01 = L.MultiplyAdd(a, b1, s01); s02 = L.MultiplyAdd(a, b2, s02); s03 = L.MultiplyAdd(a, b3, s03);
            a = L.Load(x1 + k);
            s10 = L.MultiplyAdd(a, b0, s10); s11 = L.MultiplyAdd(a, b1, s11); s12 = L.MultiplyAdd(a, b2, s12); s13 = L.MultiplyAdd(a, b3, s13);
            a = L.Load(x2 + k);
            s20 = L.MultiplyAdd(a, b0, s20); s21 = L.MultiplyAdd(a, b1, s21); s22 = L.MultiplyAdd(a, b2, s22); s23 = L.MultiplyAdd(a, b3, s23);
            a = L.Load(x3 + k);
            s30 = L.MultiplyAdd(a, b0, s30); s31 = L.MultiplyAdd(a, b1, s31); s32 = L.MultiplyAdd(a, b2, s32); s33 = L.MultiplyAdd(a, b3, s33);
        }
        tile[0] = L.Sum(s00); tile[1] = L.Sum(s01); tile[2] = L.Sum(s02); tile[3] = L.Sum(s03);
        tile[4] = L.Sum(s10); tile[5] = L.Sum(s11); tile[6] = L.Sum(s12); tile[7] = L.Sum(s13);
        tile[8] = L.Sum(s20); tile[9] = L.Sum(s21); tile[10] = L.Sum(s22); tile[11] = L.Sum(s23);
        tile[12] = L.Sum(s30); tile[13] = L.Sum(s31); tile[14] = L.Sum(s32); tile[15] = L.Sum(s33);
        return k;
    }

    /// <summary>
    /// The inverse of the lower triangular l (its upper triangle ignored), lower triangular. Column c of the inverse
    /// is found by forward substitution on its own, so columns run in parallel; each is built as a row of the
    /// transpose so that every dot product reads two contiguous rows.
    /// </summary>
    public static double[] InvertLower(double[] l, int n, WorkerPool pool, int width = WidestVectors)
    {
        var transposed = InverseColumns(l, n, pool, width);
        var inverse = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int c = 0; c <= i; c++) inverse[(long)i * n + c] = transposed[(long)c * n + i];
        return inverse;
    }

    /// <summary>(n, n) whose row c is column c of L⁻¹ (entries from c on; those before c are zero).</summary>
    private static unsafe double[] InverseColumns(double[] l, int n, WorkerPool pool, int width)
    {
        var transposed = new double[(long)n * n];
        fixed (double* lp = l, tp = transposed)
        {
            var job = new InverseJob(lp, tp, n, width);
            pool.Run(job, job.Items);
        }
        return transposed;
    }

    /// <summary>
    /// Columns of L⁻¹ by forward substitution, a panel of <see cref="Panel"/> columns at a time; the work item k takes
    /// panels k and (panels - 1 - k), which cost about the same together.
    /// </summary>
    private sealed unsafe class InverseJob(double* l, double* transposed, int n, int width) : IRangeJob
    {
        public int Items => (Panels + 1) / 2;

        private int Panels => (n + Panel - 1) / Panel;

        public void Execute(int begin, int end)
        {
            for (int k = begin; k < end; k++)
            {
                Columns(k * Panel);
                if (Panels - 1 - k != k) Columns((Panels - 1 - k) * Panel);
            }
        }

        /// <summary>
        /// Columns [c0, c0 + Panel) of the inverse, as rows of the transpose, <see cref="Rows"/> rows of L at a time:
        /// y_c[i] = -(Σ_{k in [c, i)} l[i,k] y_c[k]) / l[i,i], the part of the sum before the block's first row as
        /// <see cref="RowProducts"/> of L's rows with the panel's rows of the transpose (zero before c), the rest one by one.
        /// </summary>
        private void Columns(int c0)
        {
            int c1 = Math.Min(n, c0 + Panel);
            double* products = stackalloc double[Rows * Panel];
            for (int i0 = c0; i0 < n; i0 += Rows)
            {
                int rows = Math.Min(Rows, n - i0);
                RowProducts(l + (long)i0 * n, n, 0, rows, transposed + (long)c0 * n, c1 - c0, c0, i0, products, width);
                for (int i = i0; i < i0 + rows; i++)
                {
                    double* rowL = l + (long)i * n;
                    for (int c = c0; c < c1 && c <= i; c++)
                    {
                        double* y = transposed + (long)c * n;
                        if (i == c)
                        {
                            y[c] = 1 / rowL[c];
                            continue;
                        }
                        double sum = products[(i - i0) * Panel + c - c0];
                        for (int k = i0; k < i; k++) sum += rowL[k] * y[k];
                        y[i] = -sum / rowL[i];
                    }
                }
            }
        }
    }
}
