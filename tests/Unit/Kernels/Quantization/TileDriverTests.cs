using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// The loop every tiled matrix shares, with a kernel that writes a value naming its tile, token and row: every output
/// of the tile range is written once with the value of its own tile, token and row, nothing outside it is touched
/// (rows of other tiles, rows past the matrix in a partial last tile, the stride's padding), and no kernel call spans
/// two token blocks. The kernels' arithmetic is checked elsewhere against references; this checks only the loop,
/// which the path-against-scalar comparisons cannot (both sides run through it).
/// </summary>
public sealed unsafe class TileDriverTests
{
    /// <summary>Takes up to three tokens a call and records each call's tokens.</summary>
    private struct NamingKernel(int rows, int bytesPerToken, List<(int Tile, int First, int Count)> calls) : ITileKernel
    {
        public readonly int Rows => rows;

        public readonly int ActivationBytesPerToken => bytesPerToken;

        public readonly int Run(int tile, int token, int available, float* result)
        {
            int count = Math.Min(3, available);
            for (int i = 0; i < count; i++)
                for (int r = 0; r < Int4Matrix.TileRows; r++) result[i * Int4Matrix.TileRows + r] = Name(tile, token + i, r);
            calls.Add((tile, token, count));
            return count;
        }
    }

    private static float Name(int tile, int token, int r) => 1 + tile * 1000 + token * 10 + r;

    /// <summary>Blocks hold what fits in 384 KiB, at most 64 tokens, rounded down to whole 16-token calls from 16 up.</summary>
    [Theory]
    [InlineData(2048, 64)]  // 192 fit
    [InlineData(5632, 64)]  // 69 fit
    [InlineData(8192, 48)]  // 48 fit
    [InlineData(10000, 32)] // 39 fit
    [InlineData(384 * 1024 / 17, 16)]
    [InlineData(384 * 1024 / 15, 15)]
    [InlineData(1 << 20, 1)]
    public void TokenBlockFitsTheBudgetInWholeKernelCalls(int bytesPerToken, int expected) => Assert.Equal(expected, TileDriver.TokenBlock(bytesPerToken));

    [Theory]
    [InlineData(37, 0, 5, 11, 384 * 1024 / 5, 5)] // partial last tile; token blocks of 5 (5, 5, 1)
    [InlineData(37, 2, 4, 70, 100, 64)]          // token blocks of the 64 maximum
    [InlineData(37, 0, 5, 100, 10000, 32)]       // 39 tokens fit: blocks of 32, a whole number of 16-token calls
    [InlineData(16, 1, 2, 1, 4096, 64)]          // one token, one tile
    public void WritesEachOutputOfTheRangeOnceAndNothingElse(int rows, int tileBegin, int tileEnd, int tokens, int bytesPerToken, int tokenBlock)
    {
        Assert.Equal(tokenBlock, TileDriver.TokenBlock(bytesPerToken));
        int stride = rows + 3;
        var output = new float[tokens * stride];
        Array.Fill(output, float.NaN);
        var calls = new List<(int Tile, int First, int Count)>();
        var kernel = new NamingKernel(rows, bytesPerToken, calls);
        fixed (float* o = output) TileDriver.Multiply(ref kernel, o, stride, tokens, tileBegin, tileEnd);

        for (int t = 0; t < tokens; t++)
        for (int n = 0; n < stride; n++)
        {
            int tile = n / Int4Matrix.TileRows;
            bool inRange = n < rows && tile >= tileBegin && tile < tileEnd;
            float value = output[t * stride + n];
            if (inRange) Assert.Equal(Name(tile, t, n % Int4Matrix.TileRows), value);
            else Assert.True(float.IsNaN(value), $"token {t} row {n} (outside the range) was written");
        }
        foreach (var (tile, first, count) in calls)
            Assert.Equal(first / tokenBlock, (first + count - 1) / tokenBlock);
        // Each tile is called for exactly the tokens, in order, within each token block.
        foreach (var group in calls.GroupBy(c => c.Tile))
            Assert.Equal(Enumerable.Range(0, tokens), group.SelectMany(c => Enumerable.Range(c.First, c.Count)).Order());
        Assert.Equal(Enumerable.Range(tileBegin, tileEnd - tileBegin), calls.Select(c => c.Tile).Distinct().Order());
    }
}
