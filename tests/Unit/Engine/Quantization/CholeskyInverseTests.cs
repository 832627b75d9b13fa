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
    /// <remarks>
    /// Every vector width the dot products have (8 on AVX-512, 4 on AVX2, 1 the scalar loop), each asked for here
    /// whatever the machine: a width it lacks falls back to the next narrower path, which is then run twice.
    /// </remarks>
    [Theory]
    [InlineData(1, 5, 8)]
    [InlineData(15, 6, 8)]
    [InlineData(17, 7, 8)]
    [InlineData(100, 8, 8)]
    [InlineData(333, 9, 8)] // hands rows to the workers, and ends in a partial panel
    [InlineData(17, 7, 4)]
    [InlineData(333, 9, 4)]
    [InlineData(17, 7, 1)]
    [InlineData(333, 9, 1)]
    public void PanelsAgreeWithTheColumnByColumnResultToDoubleRounding(int n, int seed, int width)
    {
        var h = LinearAlgebraReference.RandomSpd(n, seed);
        var expected = ColumnByColumnCholesky.UpperFactorOfInverse(h, n, WorkerPool.Shared)!;
        var actual = CholeskyInverse.UpperFactorOfInverse(h, n, WorkerPool.Shared, width)!;
        AssertClose(expected, actual);
        var l = (double[])h.Clone();
        Assert.True(CholeskyInverse.CholeskyLower(l, n, WorkerPool.Shared, width));
        var reference = (double[])h.Clone();
        Assert.True(ColumnByColumnCholesky.CholeskyLower(reference, n, WorkerPool.Shared));
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) Assert.True(Math.Abs(l[i * n + j] - reference[i * n + j]) <= 1e-11 * Math.Abs(reference[j * n + j]) + 1e-11);
        AssertClose(ColumnByColumnCholesky.InvertLower(l, n, WorkerPool.Shared), CholeskyInverse.InvertLower(l, n, WorkerPool.Shared, width));
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

    /// <summary>
    /// GPTQ's factor made in H's own array is the double factor's entries rounded to float, bit for bit: the same
    /// reversal, factorization and inverse, only the buffers differ. A wrong mirror, a lost diagonal or a reversal
    /// left out would change entries by far more than a float's rounding.
    /// </summary>
    [Theory]
    [InlineData(1, 11)]
    [InlineData(40, 12)]
    [InlineData(257, 13)] // hands rows to the workers
    public void TheInPlaceFloatFactorIsTheDoubleFactorRounded(int n, int seed)
    {
        var h = LinearAlgebraReference.RandomSpd(n, seed);
        const double shift = 0.25;
        var shifted = (double[])h.Clone();
        for (int i = 0; i < n; i++) shifted[i * n + i] += shift;
        var expected = CholeskyInverse.UpperFactorOfInverse(shifted, n, WorkerPool.Shared)!;
        var actual = CholeskyInverse.FloatUpperFactorOfInverseInPlace((double[])h.Clone(), n, [shift], WorkerPool.Shared)!;
        for (int i = 0; i < n * n; i++) Assert.Equal((float)expected[i], actual[i]);
    }

    /// <summary>
    /// H with its first diagonal entry at most -1 fails for the shifts 0 and 0.5 (that entry is the reversed matrix's
    /// last pivot, so each failure has overwritten the whole lower triangle, which must be mirrored back from the
    /// upper) and is positive definite with the third shift: the result is that of H plus that shift factored afresh.
    /// With no shift large enough, null.
    /// </summary>
    [Theory]
    [InlineData(9)]
    [InlineData(150)]
    public void AFailedShiftIsUndoneBeforeTheNext(int n)
    {
        var h = LinearAlgebraReference.RandomSpd(n, n);
        double largest = 0;
        for (int i = 0; i < n; i++) largest = Math.Max(largest, h[i * n + i]);
        // Minus (1 + largest) e0 e0ᵀ: the first diagonal entry at most -1. Shifted by 2 + largest, the smallest
        // eigenvalue is at least the ridge + 1, since the shift exceeds the rank-one term by 1.
        var indefinite = (double[])h.Clone();
        indefinite[0] -= 1 + largest;
        double enough = 2 + largest;
        var shifted = (double[])indefinite.Clone();
        for (int i = 0; i < n; i++) shifted[i * n + i] += enough;
        var expected = CholeskyInverse.UpperFactorOfInverse(shifted, n, WorkerPool.Shared)!;
        Assert.Null(CholeskyInverse.UpperFactorOfInverse(indefinite, n, WorkerPool.Shared));
        var actual = CholeskyInverse.FloatUpperFactorOfInverseInPlace((double[])indefinite.Clone(), n, [0, 0.5, enough], WorkerPool.Shared)!;
        for (int i = 0; i < n * n; i++) Assert.Equal((float)expected[i], actual[i]);
        Assert.Null(CholeskyInverse.FloatUpperFactorOfInverseInPlace((double[])indefinite.Clone(), n, [0, 0.5], WorkerPool.Shared));
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
