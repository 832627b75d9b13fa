using System.Numerics.Tensors;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// The factorization and inverse of <see cref="LlmCpu.Engine.Quantization.CholeskyInverse"/> as they were first written,
/// one column at a time (every column of the factor, and of the inverse, streams the rows below it): the reference its
/// register-blocked panels must agree with to double rounding.
/// </summary>
internal static class ColumnByColumnCholesky
{
    /// <summary>U, (n, n) row-major with zeros below the diagonal, or null when H is not positive definite.</summary>
    public static double[]? UpperFactorOfInverse(ReadOnlySpan<double> h, int n, WorkerPool pool)
    {
        if (h.Length < (long)n * n) throw new ArgumentException($"{n} x {n} values are needed.", nameof(h));
        var reversed = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) reversed[(long)i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
        if (!CholeskyLower(reversed, n, pool)) return null;
        var inverse = InvertLower(reversed, n, pool);
        var u = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) u[(long)i * n + j] = inverse[(long)(n - 1 - i) * n + (n - 1 - j)];
        return u;
    }

    /// <summary>
    /// Factors a in place into its lower Cholesky factor L (a = L Lᵀ; the upper triangle is left as it was). Column by
    /// column: L[j,j] from row j's prefix, then every L[i,j] below it (a dot product of two row prefixes) in parallel.
    /// False when a pivot is not positive.
    /// </summary>
    public static bool CholeskyLower(double[] a, int n, WorkerPool pool)
    {
        var job = new ColumnJob(a, n);
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.AsSpan((int)((long)j * n), j);
            double pivot = a[(long)j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(pivot > 0) || !double.IsFinite(pivot)) return false;
            a[(long)j * n + j] = Math.Sqrt(pivot);
            job.Column = j;
            int below = n - 1 - j;
            // Small columns are not worth a hand-off to the workers.
            if ((long)below * j < 16_384) ((IRangeJob)job).Execute(0, below);
            else pool.Run(job, below, 8);
        }
        return true;
    }

    private sealed class ColumnJob(double[] a, int n) : IRangeJob
    {
        public int Column;

        public void Execute(int begin, int end)
        {
            int j = Column;
            var rowJ = a.AsSpan((int)((long)j * n), j);
            double pivot = a[(long)j * n + j];
            for (int k = begin; k < end; k++)
            {
                long i = j + 1 + k;
                var rowI = a.AsSpan((int)(i * n), j);
                a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(rowI, rowJ)) / pivot;
            }
        }
    }

    /// <summary>
    /// The inverse of the lower triangular l (its upper triangle ignored), lower triangular. Column c of the inverse
    /// is found by forward substitution on its own, so columns run in parallel; each is built as a row of the
    /// transpose so that every dot product reads two contiguous rows.
    /// </summary>
    public static double[] InvertLower(double[] l, int n, WorkerPool pool)
    {
        var transposed = new double[(long)n * n]; // row c: column c of the inverse
        pool.Run(new InverseJob(l, transposed, n), (n + 1) / 2);
        var inverse = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int c = 0; c <= i; c++) inverse[(long)i * n + c] = transposed[(long)c * n + i];
        return inverse;
    }

    private sealed class InverseJob(double[] l, double[] transposed, int n) : IRangeJob
    {
        public void Execute(int begin, int end)
        {
            // Column c costs about (n - c)² / 2; item k takes columns k and n-1-k, so items cost about the same.
            for (int k = begin; k < end; k++)
            {
                Column(k);
                if (n - 1 - k != k) Column(n - 1 - k);
            }
        }

        private void Column(int c)
        {
            var y = transposed.AsSpan((int)((long)c * n), n);
            y[c] = 1 / l[(long)c * n + c];
            for (int i = c + 1; i < n; i++)
            {
                // y[i] = -(sum over k in [c, i) of l[i,k] y[k]) / l[i,i]
                double dot = TensorPrimitives.Dot<double>(l.AsSpan((int)((long)i * n + c), i - c), y.Slice(c, i - c));
                y[i] = -dot / l[(long)i * n + i];
            }
        }
    }
}
