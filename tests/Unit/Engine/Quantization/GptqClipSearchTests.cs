using LlmCpu.Engine.Quantization;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class GptqClipSearchTests
{
    [Theory]
    [InlineData(128, false, 101)]
    [InlineData(128, true, 102)]
    [InlineData(32, false, 103)]
    [InlineData(32, true, 104)]
    public void ItsOutputErrorIsBelowPlainGptqs(int groupSize, bool asymmetric, int seed)
    {
        const int rows = 32, columns = 256, tokens = 1024;
        var w = RandomLayer.RandomWeights(rows, columns, seed);
        var x = RandomLayer.CorrelatedInputs(tokens, columns, seed + 1000);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        var format = new Int4Format(groupSize, asymmetric);
        using var plain = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared);
        using var clipped = GptqQuantizer.Quantize(w, rows, columns, h, format, ActivationMode.Int8, WorkerPool.Shared, new GptqOptions { ClipSearch = true });
        // The output error over the calibration inputs themselves, computed from the inputs (not from H).
        double plainError = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(plain), x, rows, columns, tokens);
        double clippedError = LinearAlgebraReference.OutputError(w, RandomLayer.Dequantized(clipped), x, rows, columns, tokens);
        Assert.True(clippedError < 0.97 * plainError, $"clipped {clippedError}, plain {plainError}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithADiagonalHessianItPicksTheCandidateOfLeastWeightedSquaredError(bool asymmetric)
    {
        // Nothing spreads with a diagonal H, so a candidate's loss is Σ H[j,j] (w_j - ŵ_j)² (up to the dampening,
        // which scales every candidate's loss alike): the choice must be that sum's smallest, found here by brute force.
        const int columns = 64;
        var random = new Random(7);
        var w = RandomLayer.RandomWeights(1, columns, 8);
        w[5] = 5f;  // one outlier, on a column of little weight in the loss: clipping it pays
        w[6] = -0.5f;
        var diagonal = new double[columns];
        for (int j = 0; j < columns; j++) diagonal[j] = j == 5 ? 0.01 : 0.05 + 4 * random.NextDouble() * (j % 7 == 0 ? 10 : 1);
        var h = new double[columns * columns];
        for (int j = 0; j < columns; j++) h[j * columns + j] = diagonal[j];
        using var clipped = GptqQuantizer.Quantize(w, 1, columns, h, new Int4Format(columns, asymmetric), ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ClipSearch = true, Dampening = 0 });
        double Loss(float[] values)
        {
            double sum = 0;
            for (int j = 0; j < columns; j++) sum += diagonal[j] * Math.Pow(w[j] - values[j], 2);
            return sum;
        }
        double best = double.PositiveInfinity;
        foreach (float shrink in GptqClipSearch.Shrinks)
        {
            var (scale, zero) = GptqClipSearch.Grid(w, shrink, asymmetric);
            var values = w.Select(v => (GptqQuantizer.Code(v, scale, zero) - zero) * scale).ToArray();
            best = Math.Min(best, Loss(values));
        }
        Assert.Equal(best, Loss(RandomLayer.Dequantized(clipped)), 9);
        using var rtn = GptqQuantizer.Quantize(w, 1, columns, h, new Int4Format(columns, asymmetric), ActivationMode.Int8, WorkerPool.Shared,
            new GptqOptions { ScaleRule = Int4Recipe.RoundToNearest, Dampening = 0 });
        Assert.True(best < Loss(RandomLayer.Dequantized(rtn)), "some clipping pays on weights with outliers");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheUnclippedGridIsRoundToNearests(bool asymmetric)
    {
        var w = RandomLayer.RandomWeights(1, 32, 9);
        var codes = new byte[32];
        var expected = asymmetric ? Int4Quantizer.QuantizeAsymmetric(w, codes) : (Int4Quantizer.QuantizeSymmetric(w, codes), (byte)8);
        Assert.Equal(expected, GptqClipSearch.Grid(w, 1f, asymmetric));
    }

    /// <summary>
    /// All candidates of all the tile's rows run at once, their updates as one product, must choose exactly what running
    /// each candidate's column loop on its own chooses (the straightforward loop below: each column rounded by
    /// GptqQuantizer.Code, its error spread over the group's later columns one column at a time, losses summed in
    /// double), on groups of a real U with whole and partial lengths, and row counts whose lanes (rows x 21) leave a
    /// remainder past the vectors.
    /// </summary>
    [Theory]
    [InlineData(128, 32, false)]
    [InlineData(128, 5, true)]
    [InlineData(32, 8, true)]
    [InlineData(50, 3, false)]
    [InlineData(17, 1, true)]
    [InlineData(150, 4, false)] // longer than any group of the tile layout: a per-channel group
    public void ItChoosesWhatEachCandidatesOwnColumnLoopChooses(int length, int rows, bool asymmetric)
    {
        const int columns = 160, tokens = 600;
        var x = RandomLayer.CorrelatedInputs(tokens, columns, length);
        var h = RandomLayer.HessianOf(x, tokens, columns);
        double mean = Enumerable.Range(0, columns).Average(i => h[i * columns + i]);
        for (int i = 0; i < columns; i++) h[i * columns + i] += 0.01 * mean;
        var u = CholeskyInverse.UpperFactorOfInverse(h, columns, WorkerPool.Shared)!.Select(v => (float)v).ToArray();
        var w = RandomLayer.RandomWeights(rows, columns, length + 1);
        int first = columns - length - 3;
        if (rows > 1)
            for (int k = 0; k < length; k++) w[first + k] = 0;  // a group of zeros: a scale of 0 for every candidate
        var scales = new float[rows];
        var zeros = new byte[rows];
        GptqClipSearch.Choose(w.AsSpan(first), columns, rows, length, u, columns, first, asymmetric, scales, zeros, new GptqClipSearch.Workspace(rows, Math.Max(128, length)));
        int clipped = 0;
        for (int r = 0; r < rows; r++)
        {
            var group = w.AsSpan(r * columns + first, length);
            var expected = StraightforwardChoice(group, u, columns, first, asymmetric);
            Assert.Equal(expected, (scales[r], zeros[r]));
            if (expected != GptqClipSearch.Grid(group, 1f, asymmetric)) clipped++;
        }
        if (rows >= 5) Assert.True(clipped > 0, "some row chooses a clipped candidate, so the comparison sees the losses");
    }

    private static (float, byte) StraightforwardChoice(ReadOnlySpan<float> group, float[] u, int columns, int first, bool asymmetric)
    {
        (float, byte) best = default;
        double bestLoss = double.PositiveInfinity;
        foreach (float shrink in GptqClipSearch.Shrinks)
        {
            var (scale, zero) = GptqClipSearch.Grid(group, shrink, asymmetric);
            var w = group.ToArray();
            double loss = 0;
            for (int j = 0; j < w.Length; j++)
            {
                var uj = u.AsSpan((first + j) * columns + first, w.Length);
                float error = (w[j] - (GptqQuantizer.Code(w[j], scale, zero) - zero) * scale) / uj[j];
                loss += (double)error * error;
                for (int k = j + 1; k < w.Length; k++)
                {
                    float product = error * uj[k];
                    w[k] -= product;
                }
            }
            if (loss < bestLoss) (best, bestLoss) = ((scale, zero), loss);
        }
        return best;
    }
}
