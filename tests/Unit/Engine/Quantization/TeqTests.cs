using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class TeqTests(FixtureCalibration fixture, ITestOutputHelper output) : IClassFixture<FixtureCalibration>
{
    private const int Rows = 32, Columns = 256, Tokens = 1024;

    /// <summary>Round-to-nearest of W·diag(s), scaled back: the weights TEQ's scales stand for.</summary>
    private static float[] Effective(float[] w, float[] s, Int4Format format)
    {
        var scaled = new float[w.Length];
        for (int i = 0; i < w.Length; i++) scaled[i] = w[i] * s[i % Columns];
        using var q = Int4Matrix.Quantize(scaled, Rows, Columns, format);
        var result = RandomLayer.Dequantized(q);
        for (int i = 0; i < result.Length; i++) result[i] /= s[i % Columns];
        return result;
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, true)]
    [InlineData(128, false)]
    [InlineData(Int4Format.PerChannel, true)]
    public void OnCorrelatedInputsTrainedScalesLowerTheOutputErrorBelowRoundToNearests(int groupSize, bool asymmetric)
    {
        var w = RandomLayer.RandomWeights(Rows, Columns, 27);
        var x = RandomLayer.CorrelatedInputs(Tokens, Columns, 28);
        var h = QuadraticError.ToFloat(RandomLayer.HessianOf(x, Tokens, Columns));
        var format = new Int4Format(groupSize, asymmetric);
        var (scales, _) = TeqScaleTraining.Train(w, Rows, Columns, h, null, format, WorkerPool.Shared, SignedDescentOptions.Teq, default);
        double ours = LinearAlgebraReference.OutputError(w, Effective(w, scales, format), x, Rows, Columns, Tokens);
        double plain = LinearAlgebraReference.OutputError(w, Effective(w, Enumerable.Repeat(1f, Columns).ToArray(), format), x, Rows, Columns, Tokens);
        output.WriteLine($"{format}: TEQ {ours:G6}, round-to-nearest {plain:G6}; scales {scales.Min():F3} .. {scales.Max():F3}");
        Assert.True(ours < 0.85 * plain, $"TEQ {ours}, round-to-nearest {plain}");
    }

    [Fact]
    public void TiedChannelsGetOneScale()
    {
        var w = RandomLayer.RandomWeights(Rows, Columns, 29);
        var x = RandomLayer.CorrelatedInputs(Tokens, Columns, 30);
        var h = QuadraticError.ToFloat(RandomLayer.HessianOf(x, Tokens, Columns));
        var ties = Enumerable.Range(0, Columns).Select(j => j % 64).ToArray();
        var (scales, _) = TeqScaleTraining.Train(w, Rows, Columns, h, ties, new Int4Format(32, false), WorkerPool.Shared, SignedDescentOptions.Teq, default);
        Assert.Contains(scales, s => s != 1f);
        for (int j = 0; j < Columns; j++) Assert.Equal(scales[j % 64], scales[j]);
    }

    /// <summary>
    /// The scales, trained on each matrix's own error (statistics without the layer's inputs) or on the block's (with
    /// them), folded into the layer leave the float model's function as it was.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheFoldedModelComputesTheSameFunctionBeforeQuantization(bool blockWise)
    {
        var config = fixture.Model.Config;
        var recipe = new TeqLayerRecipe(new Int4Format(128, false), ActivationMode.Int8, WorkerPool.Shared, config, NullEngineLog.Instance, default, new SignedDescentOptions { Steps = 20 });
        var plain = fixture.Model.Weights.Layers.Select(l => FloatLayer.Of(l)).ToArray();
        var folded = fixture.Model.Weights.Layers.Select(l => FloatLayer.Of(l)).ToArray();
        using var activations = new CalibrationActivations(fixture.Model, fixture.Windows, WorkerPool.Shared);
        var statistics = blockWise ? activations.Observe(fixture.Model.Weights.Layers[0], default) : fixture.Layer0;
        Assert.Equal(blockWise, statistics.LayerInputs is not null);
        folded[0] = recipe.TrainAndFold(fixture.Model.Weights.Layers[0], statistics);
        Assert.NotEqual(plain[0].QueryKeyValue, folded[0].QueryKeyValue);
        Assert.NotEqual(plain[0].AttentionNorm, folded[0].AttentionNorm);
        Assert.NotEqual(plain[0].Down, folded[0].Down);
        fixture.AssertSameLogits(plain, folded);
    }
}
