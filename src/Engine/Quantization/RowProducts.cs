using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// C = A Bᵀ (or C += A Bᵀ) for row-major FP32 A (m, k) and B (n, k), on the worker threads: the one product the
/// block-wise training needs (forward X Wᵀ, the inputs' gradient dY (Wᵀ)ᵀ, the weights' gradient dYᵀ (Xᵀ)ᵀ, each
/// operand transposed where its rows must run along k). Each item is a tile of 2 rows of A against a block of B's
/// rows, 2 x 4 dot products at a time in 256-bit vectors, so each load of A or B serves several products.
/// </summary>
internal sealed class RowProducts : IRangeJob
{
    private const int RowTile = 2, ColumnBlock = 64;
    private readonly WorkerPool _pool;
    private float[] _a = [], _b = [], _c = [];
    private int _m, _n, _k, _aOffset, _bOffset, _cOffset, _columnBlocks;
    private bool _accumulate;

    public RowProducts(WorkerPool pool) => _pool = pool;

    /// <summary>c[cOffset + i n + j] (=|+=) Σ_t a[aOffset + i k + t] · b[bOffset + j k + t].</summary>
    public void Multiply(float[] a, int aOffset, float[] b, int bOffset, float[] c, int cOffset, int m, int n, int k, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        (_a, _b, _c, _aOffset, _bOffset, _cOffset, _m, _n, _k, _accumulate) = (a, b, c, aOffset, bOffset, cOffset, m, n, k, accumulate);
        _columnBlocks = (n + ColumnBlock - 1) / ColumnBlock;
        int rowTiles = (m + RowTile - 1) / RowTile;
        try
        {
            _pool.Run(this, rowTiles * _columnBlocks);
        }
        finally
        {
            (_a, _b, _c) = ([], [], []);
        }
    }

    /// <summary>Writes the transpose of <paramref name="source"/> (rows, columns) into <paramref name="target"/> (columns, rows).</summary>
    public static void Transpose(ReadOnlySpan<float> source, int rows, int columns, Span<float> target)
    {
        const int block = 32;
        for (int r0 = 0; r0 < rows; r0 += block)
            for (int c0 = 0; c0 < columns; c0 += block)
            {
                int r1 = Math.Min(rows, r0 + block), c1 = Math.Min(columns, c0 + block);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) target[c * rows + r] = source[r * columns + c];
            }
    }

    public void Execute(int begin, int end)
    {
        for (int item = begin; item < end; item++)
        {
            int i0 = item / _columnBlocks * RowTile, j0 = item % _columnBlocks * ColumnBlock;
            int i1 = Math.Min(_m, i0 + RowTile), j1 = Math.Min(_n, j0 + ColumnBlock);
            int j = j0;
            if (i1 - i0 == 2)
                for (; j + 4 <= j1; j += 4) Tile2x4(i0, j);
            for (int i = i0; i < i1; i++)
                for (int jj = j; jj < j1; jj++) Store(i, jj, Dot(_aOffset + i * _k, _bOffset + jj * _k));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Store(int i, int j, float value)
    {
        ref float target = ref _c[_cOffset + i * _n + j];
        target = _accumulate ? target + value : value;
    }

    private float Dot(int a, int b) => System.Numerics.Tensors.TensorPrimitives.Dot(_a.AsSpan(a, _k), _b.AsSpan(b, _k));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Tile2x4(int i, int j)
    {
        int k = _k, width = Vector256<float>.Count;
        ref float a0 = ref _a[_aOffset + i * k];
        ref float a1 = ref _a[_aOffset + (i + 1) * k];
        ref float b0 = ref _b[_bOffset + j * k];
        ref float b1 = ref _b[_bOffset + (j + 1) * k];
        ref float b2 = ref _b[_bOffset + (j + 2) * k];
        ref float b3 = ref _b[_bOffset + (j + 3) * k];
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default, c10 = default, c11 = default, c12 = default, c13 = default;
        int t = 0;
        for (; t + width <= k; t += width)
        {
            var x0 = Vector256.LoadUnsafe(ref a0, (nuint)t);
            var x1 = Vector256.LoadUnsafe(ref a1, (nuint)t);
            var y = Vector256.LoadUnsafe(ref b0, (nuint)t);
            c00 = Vector256.FusedMultiplyAdd(x0, y, c00);
            c10 = Vector256.FusedMultiplyAdd(x1, y, c10);
            y = Vector256.LoadUnsafe(ref b1, (nuint)t);
            c01 = Vector256.FusedMultiplyAdd(x0, y, c01);
            c11 = Vector256.FusedMultiplyAdd(x1, y, c11);
            y = Vector256.LoadUnsafe(ref b2, (nuint)t);
            c02 = Vector256.FusedMultiplyAdd(x0, y, c02);
            c12 = Vector256.FusedMultiplyAdd(x1, y, c12);
            y = Vector256.LoadUnsafe(ref b3, (nuint)t);
            c03 = Vector256.FusedMultiplyAdd(x0, y, c03);
            c13 = Vector256.FusedMultiplyAdd(x1, y, c13);
        }
        float s00 = Vector256.Sum(c00), s01 = Vector256.Sum(c01), s02 = Vector256.Sum(c02), s03 = Vector256.Sum(c03);
        float s10 = Vector256.Sum(c10), s11 = Vector256.Sum(c11), s12 = Vector256.Sum(c12), s13 = Vector256.Sum(c13);
        for (; t < k; t++)
        {
            float x0 = Unsafe.Add(ref a0, t), x1 = Unsafe.Add(ref a1, t);
            float y0 = Unsafe.Add(ref b0, t), y1 = Unsafe.Add(ref b1, t), y2 = Unsafe.Add(ref b2, t), y3 = Unsafe.Add(ref b3, t);
            s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
            s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        }
        Store(i, j, s00); Store(i, j + 1, s01); Store(i, j + 2, s02); Store(i, j + 3, s03);
        Store(i + 1, j, s10); Store(i + 1, j + 1, s11); Store(i + 1, j + 2, s12); Store(i + 1, j + 3, s13);
    }
}
