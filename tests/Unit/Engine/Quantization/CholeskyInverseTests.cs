using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class CholeskyInverseTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(64, 3)]
    [InlineData(200, 4)] // large enough that the factorization hands columns to the workers
    public void UpperFactorTimesItselfIsTheGaussJordanInverse(int n, int seed)
    {
        var h = LinearAlgebraReference.RandomSpd(n, seed);
        var u = CholeskyInverse.UpperFactorOfInverse(h, n, WorkerPool.Shared);
        Assert.NotNull(u);
        var expected = LinearAlgebraReference.Inverse(h, n);
        var product = LinearAlgebraReference.TransposeTimes(u!, u!, n); // UᵀU
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < n * n; i++) Assert.True(Math.Abs(product[i] - expected[i]) <= 1e-9 * scale, $"element {i}: {product[i]} vs {expected[i]}");
        for (int i = 0; i < n; i++)
        {
            Assert.True(u![i * n + i] > 0);
            for (int j = 0; j < i; j++) Assert.Equal(0, u[i * n + j]);
        }
    }

    /// <summary>
    /// The panels' register-blocked dot products sum in another order than the column-by-column reference (which sums
    /// each with one TensorPrimitives.Dot), so the two agree to double rounding, not to the last bit. Each dot product
    /// of length at most n carries an error of at most n · 2⁻⁵³ of its terms' magnitudes (about 4e-14 at n = 333); the
    /// factorization and the inverse amplify it by at most about the condition number of H (below 100 for these
    /// matrices, whose smallest eigenvalue is at least the ridge of 0.05), so 1e-11 of U's largest entry bounds the
    /// difference with a margin while a wrong term, a skipped block or a misplaced product (all of order one) exceeds it.
    /// </summary>
    [Theory]
    [InlineData(1, 5)]
    [InlineData(15, 6)]
    [InlineData(17, 7)]
    [InlineData(100, 8)]
    [InlineData(333, 9)] // hands rows to the workers, and ends in a partial panel
    public void PanelsAgreeWithTheColumnByColumnResultToDoubleRounding(int n, int seed)
    {
        var h = LinearAlgebraReference.RandomSpd(n, seed);
        var expected = ColumnByColumnCholesky.UpperFactorOfInverse(h, n, WorkerPool.Shared)!;
        var actual = CholeskyInverse.UpperFactorOfInverse(h, n, WorkerPool.Shared)!;
        AssertClose(expected, actual);
        var l = (double[])h.Clone();
        Assert.True(CholeskyInverse.CholeskyLower(l, n, WorkerPool.Shared));
        var reference = (double[])h.Clone();
        Assert.True(ColumnByColumnCholesky.CholeskyLower(reference, n, WorkerPool.Shared));
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) Assert.True(Math.Abs(l[i * n + j] - reference[i * n + j]) <= 1e-11 * Math.Abs(reference[j * n + j]) + 1e-11);
        AssertClose(ColumnByColumnCholesky.InvertLower(l, n, WorkerPool.Shared), CholeskyInverse.InvertLower(l, n, WorkerPool.Shared));
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-11 * scale, $"element {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void ANonPositiveDefiniteMatrixIsRefused()
    {
        // Symmetric with eigenvalues 3 and -1.
        Assert.Null(CholeskyInverse.UpperFactorOfInverse([1, 2, 2, 1], 2, WorkerPool.Shared));
        // Singular: rank one.
        Assert.Null(CholeskyInverse.UpperFactorOfInverse([1, 1, 1, 1], 2, WorkerPool.Shared));
    }

    [Fact]
    public void InvertLowerGivesTheInverseOfATriangle()
    {
        const int n = 33;
        var h = LinearAlgebraReference.RandomSpd(n, 9);
        var l = (double[])h.Clone();
        Assert.True(CholeskyInverse.CholeskyLower(l, n, WorkerPool.Shared));
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) l[i * n + j] = 0;
        var inverse = CholeskyInverse.InvertLower(l, n, WorkerPool.Shared);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int k = 0; k < n; k++) sum += inverse[i * n + k] * l[k * n + j];
                Assert.Equal(i == j ? 1 : 0, sum, 1e-10);
            }
    }
}
