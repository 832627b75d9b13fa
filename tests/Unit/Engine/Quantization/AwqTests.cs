using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class AwqTests(FixtureCalibration fixture, ITestOutputHelper output) : IClassFixture<FixtureCalibration>
{
    /// <summary>Random positive scales, equal within each tie group (so the attention output's can fold into V rows).</summary>
    private static float[] RandomScales(int n, int seed, int[]? ties = null)
    {
        var random = new Random(seed);
        var byTie = Enumerable.Range(0, n).Select(_ => (float)Math.Exp(random.NextDouble() * 2 - 1)).ToArray();
        return Enumerable.Range(0, n).Select(j => byTie[ties?[j] ?? j]).ToArray();
    }

    [Fact]
    public void FoldingScalesIntoNormsVAndUpRowsLeavesTheFloatForwardUnchanged()
    {
        var config = fixture.Model.Config;
        var plain = fixture.Model.Weights.Layers.Select(l => FloatLayer.Of(l)).ToArray();
        var folded = fixture.Model.Weights.Layers.Select(l => FloatLayer.Of(l)).ToArray();
        for (int i = 0; i < folded.Length; i++)
        {
            AwqFolding.QueryKeyValue(folded[i], config, RandomScales(config.EmbeddingLength, 4 * i));
            AwqFolding.AttentionOutput(folded[i], config, RandomScales(config.EmbeddingLength, 4 * i + 1, AwqFolding.AttentionOutputSources(config)));
            AwqFolding.GateUp(folded[i], config, RandomScales(config.EmbeddingLength, 4 * i + 2));
            AwqFolding.Down(folded[i], config, RandomScales(config.FeedForwardLength, 4 * i + 3));
        }
        Assert.NotEqual(plain[0].QueryKeyValue, folded[0].QueryKeyValue);
        fixture.AssertSameLogits(plain, folded);
    }

    [Fact]
    public void ChannelsFedByOneVRowMustShareAScale()
    {
        var config = fixture.Model.Config;
        var layer = FloatLayer.Of(fixture.Model.Weights.Layers[0]);
        var scales = Enumerable.Range(0, config.EmbeddingLength).Select(j => 1f + j).ToArray();
        Assert.Throws<ArgumentException>(() => AwqFolding.AttentionOutput(layer, config, scales));
    }

    /// <summary>Σ over rows of e H eᵀ in double, e the error of round-to-nearest on W·diag(s), scaled back.</summary>
    private static double Objective(float[] w, int rows, int columns, double[] h, float[] s, Int4Format format)
    {
        double total = 0;
        var scaled = new float[columns];
        var codes = new byte[format.GroupSize];
        var e = new double[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < columns; j++) scaled[j] = w[r * columns + j] * s[j];
            for (int g0 = 0; g0 < columns; g0 += format.GroupSize)
            {
                var (scale, zero) = Int4Quantizer.Quantize(scaled.AsSpan(g0, format.GroupSize), codes, format.Asymmetric, Int4Recipe.RoundToNearest);
                for (int k = 0; k < format.GroupSize; k++) e[g0 + k] = w[r * columns + g0 + k] - (codes[k] - zero) * (double)scale / s[g0 + k];
            }
            for (int i = 0; i < columns; i++)
                for (int j = 0; j < columns; j++) total += e[i] * h[i * columns + j] * e[j];
        }
        return total;
    }

    [Theory]
    [InlineData(LinearInput.QueryKeyValue, 128, false)]
    [InlineData(LinearInput.AttentionOutput, 64, true)]
    [InlineData(LinearInput.GateUp, 32, false)]
    [InlineData(LinearInput.Down, 128, false)]
    public void TheScaleSearchIsNeverWorseOnItsObjectiveThanNoScaling(LinearInput input, int groupSize, bool asymmetric)
    {
        var config = fixture.Model.Config;
        var layer = fixture.Model.Weights.Layers[0];
        var matrix = input switch
        {
            LinearInput.QueryKeyValue => layer.QueryKeyValue, LinearInput.AttentionOutput => layer.AttentionOutput,
            LinearInput.GateUp => layer.GateUp, _ => layer.Down,
        };
        var w = FloatRows.Of(matrix);
        var statistics = fixture.Layer0[input];
        var h = statistics.Hessian();
        var format = new Int4Format(groupSize, asymmetric);
        var ties = input == LinearInput.AttentionOutput ? AwqFolding.AttentionOutputSources(config) : null;
        var (scales, alpha) = AwqScaleSearch.Search(w, matrix.Rows, matrix.Columns, QuadraticError.ToFloat(h), statistics.MeanAbsolute(), ties, format, WorkerPool.Shared);
        double searched = Objective(w, matrix.Rows, matrix.Columns, h, scales, format);
        double plain = Objective(w, matrix.Rows, matrix.Columns, h, Enumerable.Repeat(1f, matrix.Columns).ToArray(), format);
        output.WriteLine($"{input} {format}: alpha {alpha}, objective {searched:G6} against {plain:G6} unscaled");
        Assert.True(searched <= plain * (1 + 1e-6), $"searched {searched}, unscaled {plain}");
        if (ties != null)
            for (int j = 0; j < ties.Length; j++) Assert.Equal(scales[Array.IndexOf(ties, ties[j])], scales[j]);
    }

    [Fact]
    public void TheClippingSearchIsNeverWorseThanRoundToNearestOnTheGroupObjective()
    {
        var layer = fixture.Model.Weights.Layers[0];
        var w = FloatRows.Of(layer.GateUp);
        int rows = layer.GateUp.Rows, columns = layer.GateUp.Columns;
        var hd = fixture.Layer0[LinearInput.GateUp].Hessian();
        var h = QuadraticError.ToFloat(hd);
        var format = new Int4Format(32, false);
        using var clipped = AwqClipQuantizer.Quantize(w, rows, columns, h, clipFrom: 0, format, ActivationMode.Int8, WorkerPool.Shared);
        using var rtn = Int4Matrix.Quantize(w, rows, columns, format);
        double Loss(Int4Matrix m)
        {
            var row = new float[columns];
            double total = 0;
            for (int r = 0; r < rows; r++)
            {
                m.DequantizeRow(r, row);
                for (int g0 = 0; g0 < columns; g0 += 32)
                    for (int i = g0; i < g0 + 32; i++)
                        for (int j = g0; j < g0 + 32; j++)
                            total += (w[r * columns + i] - row[i]) * (double)hd[i * columns + j] * (w[r * columns + j] - row[j]);
            }
            return total;
        }
        double clippedLoss = Loss(clipped), rtnLoss = Loss(rtn);
        output.WriteLine($"clipped {clippedLoss:G6}, round-to-nearest {rtnLoss:G6}");
        Assert.True(clippedLoss < rtnLoss, $"clipped {clippedLoss}, round-to-nearest {rtnLoss}");
    }
}
