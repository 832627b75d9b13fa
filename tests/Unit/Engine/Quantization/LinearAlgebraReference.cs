namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>Straightforward dense linear algebra, in double, as the oracle of the quantization tests.</summary>
internal static class LinearAlgebraReference
{
    /// <summary>A random symmetric positive definite matrix: AᵀA / m + ridge I for a random (m, n) A.</summary>
    public static double[] RandomSpd(int n, int seed, double ridge = 0.05)
    {
        var random = new Random(seed);
        int m = n + 8;
        var a = new double[m * n];
        for (int i = 0; i < a.Length; i++) a[i] = random.NextDouble() * 2 - 1;
        var h = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < m; k++) sum += a[k * n + i] * a[k * n + j];
                h[i * n + j] = sum / m + (i == j ? ridge : 0);
            }
        return h;
    }

    /// <summary>The inverse by Gauss-Jordan elimination with partial pivoting.</summary>
    public static double[] Inverse(ReadOnlySpan<double> matrix, int n)
    {
        var a = matrix.ToArray();
        var inverse = new double[n * n];
        for (int i = 0; i < n; i++) inverse[i * n + i] = 1;
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(a[r * n + c]) > Math.Abs(a[pivot * n + c])) pivot = r;
            if (pivot != c)
                for (int k = 0; k < n; k++)
                {
                    (a[c * n + k], a[pivot * n + k]) = (a[pivot * n + k], a[c * n + k]);
                    (inverse[c * n + k], inverse[pivot * n + k]) = (inverse[pivot * n + k], inverse[c * n + k]);
                }
            double p = a[c * n + c];
            for (int k = 0; k < n; k++) { a[c * n + k] /= p; inverse[c * n + k] /= p; }
            for (int r = 0; r < n; r++)
            {
                if (r == c) continue;
                double f = a[r * n + c];
                if (f == 0) continue;
                for (int k = 0; k < n; k++) { a[r * n + k] -= f * a[c * n + k]; inverse[r * n + k] -= f * inverse[c * n + k]; }
            }
        }
        return inverse;
    }

    /// <summary>(n, n) = Aᵀ B for (n, n) A and B.</summary>
    public static double[] TransposeTimes(double[] a, double[] b, int n)
    {
        var c = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < n; k++) sum += a[k * n + i] * b[k * n + j];
                c[i * n + j] = sum;
            }
        return c;
    }

    /// <summary>Frobenius norm of (W - Q) X over calibration inputs x (tokens, columns): the output error of a quantized matrix.</summary>
    public static double OutputError(float[] w, float[] q, float[] x, int rows, int columns, int tokens)
    {
        double sum = 0;
        for (int r = 0; r < rows; r++)
            for (int t = 0; t < tokens; t++)
            {
                double dot = 0;
                for (int c = 0; c < columns; c++) dot += (w[r * columns + c] - (double)q[r * columns + c]) * x[t * columns + c];
                sum += dot * dot;
            }
        return Math.Sqrt(sum);
    }
}
