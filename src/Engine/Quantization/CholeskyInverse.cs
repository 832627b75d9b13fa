using System.Numerics.Tensors;
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
    /// <summary>U, (n, n) row-major with zeros below the diagonal, or null when H is not positive definite.</summary>
    public static double[]? UpperFactorOfInverse(ReadOnlySpan<double> h, int n, WorkerPool pool)
    {
        if (h.Length < (long)n * n) throw new ArgumentException($"{n} x {n} values are needed.", nameof(h));
        var reversed = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) reversed[(long)i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
        if (!CholeskyLower(reversed, n, pool)) return null;
        // U[i, j] = M⁻¹[n-1-i, n-1-j], read from the inverse's columns as InverseColumns leaves them; written over the
        // factor, no longer needed, so a 5,632-wide H costs two n x n buffers instead of four.
        var columns = InverseColumns(reversed, n, pool);
        var u = reversed;
        for (int i = 0; i < n; i++)
        {
            u.AsSpan((int)((long)i * n), i).Clear();
            for (int j = i; j < n; j++) u[(long)i * n + j] = columns[(long)(n - 1 - j) * n + (n - 1 - i)];
        }
        return u;
    }

    /// <summary>
    /// Columns a panel of the factorization (and a work item of the inverse) takes together. Each row below a panel
    /// reads its part left of the panel once for all the panel's columns, and the panel's rows (16 x 5,632 doubles,
    /// 720 KB at the widest GPTQ input of a 1.1B model) stay in cache for every row: where one column at a time streamed
    /// the whole lower triangle once per column (n³/6 doubles, about 240 GB for n = 5,632), a panel streams it once
    /// per 16 columns. Each entry is still the same dot product of the same two rows, so the result is bit for bit
    /// that of the column-by-column order.
    /// </summary>
    internal const int Panel = 16;

    /// <summary>
    /// Factors a in place into its lower Cholesky factor L (a = L Lᵀ; the upper triangle is left as it was). A panel of
    /// <see cref="Panel"/> columns at a time: the panel's rows in order (each L[j,j] from row j's prefix), then every row
    /// below it, in parallel, its entries in the panel's columns (each L[i,j] a dot product of two row prefixes).
    /// False when a pivot is not positive.
    /// </summary>
    public static bool CholeskyLower(double[] a, int n, WorkerPool pool)
    {
        var job = new PanelJob(a, n);
        for (int j0 = 0; j0 < n; j0 += Panel)
        {
            int j1 = Math.Min(n, j0 + Panel);
            // The panel's own rows, in order: each needs the rows above it in the panel, diagonal included.
            for (int i = j0; i < j1; i++)
            {
                Entries(a, n, i, j0, i);
                var rowI = a.AsSpan((int)((long)i * n), i);
                double pivot = a[(long)i * n + i] - TensorPrimitives.Dot<double>(rowI, rowI);
                if (!(pivot > 0) || !double.IsFinite(pivot)) return false;
                a[(long)i * n + i] = Math.Sqrt(pivot);
            }
            // The rows below, each on its own given the panel's rows. Small panels are not worth a hand-off to the workers.
            job.First = j0;
            job.Last = j1;
            int below = n - j1;
            if ((long)below * j1 < 16_384) ((IRangeJob)job).Execute(0, below);
            else pool.Run(job, below, 8);
        }
        return true;
    }

    /// <summary>L[i, j] = (A[i, j] - L[i, 0..j) · L[j, 0..j)) / L[j, j] for j in [first, last): row i's entries in a panel's columns.</summary>
    private static void Entries(double[] a, int n, long i, int first, int last)
    {
        for (int j = first; j < last; j++)
        {
            var rowI = a.AsSpan((int)(i * n), j);
            var rowJ = a.AsSpan((int)((long)j * n), j);
            a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(rowI, rowJ)) / a[(long)j * n + j];
        }
    }

    private sealed class PanelJob(double[] a, int n) : IRangeJob
    {
        public int First, Last;

        public void Execute(int begin, int end)
        {
            for (int k = begin; k < end; k++) Entries(a, n, Last + k, First, Last);
        }
    }

    /// <summary>
    /// The inverse of the lower triangular l (its upper triangle ignored), lower triangular. Column c of the inverse
    /// is found by forward substitution on its own, so columns run in parallel; each is built as a row of the
    /// transpose so that every dot product reads two contiguous rows.
    /// </summary>
    public static double[] InvertLower(double[] l, int n, WorkerPool pool)
    {
        var transposed = InverseColumns(l, n, pool);
        var inverse = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int c = 0; c <= i; c++) inverse[(long)i * n + c] = transposed[(long)c * n + i];
        return inverse;
    }

    /// <summary>(n, n) whose row c is column c of L⁻¹ (entries from c on; those before c are zero).</summary>
    private static double[] InverseColumns(double[] l, int n, WorkerPool pool)
    {
        var transposed = new double[(long)n * n];
        var job = new InverseJob(l, transposed, n);
        pool.Run(job, job.Items);
        return transposed;
    }

    /// <summary>
    /// Columns of L⁻¹ by forward substitution, a panel of <see cref="Panel"/> columns at a time, each row of L read
    /// once for the panel's columns; the work item k takes panels k and (panels - 1 - k), which cost about the same together.
    /// </summary>
    private sealed class InverseJob(double[] l, double[] transposed, int n) : IRangeJob
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

        /// <summary>Columns [c0, c0 + Panel) of the inverse, as rows of the transpose.</summary>
        private void Columns(int c0)
        {
            int c1 = Math.Min(n, c0 + Panel);
            for (int i = c0; i < n; i++)
            {
                for (int c = c0; c < c1 && c <= i; c++)
                {
                    var y = transposed.AsSpan((int)((long)c * n), n);
                    if (i == c)
                    {
                        y[c] = 1 / l[(long)c * n + c];
                        continue;
                    }
                    // y[i] = -(sum over k in [c, i) of l[i,k] y[k]) / l[i,i]
                    double dot = TensorPrimitives.Dot<double>(l.AsSpan((int)((long)i * n + c), i - c), y.Slice(c, i - c));
                    y[i] = -dot / l[(long)i * n + i];
                }
            }
        }
    }
}
