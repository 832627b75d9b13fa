using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// SignRound and TEQ trained on the whole block's output error (<see cref="SignRoundBlockTraining"/>,
/// <see cref="TeqBlockTraining"/>), through their layer recipes, on the bundled model's layer 1 and all 16 calibration
/// windows. The block error is measured here with the engine's own layer (<see cref="InferenceSession.ForwardLayer"/>)
/// over every window, the result's INT4 matrices read back as FP32 (and TEQ's folded norms), against the float layer.
/// </summary>
public sealed class BlockWiseRecipeTests(FixtureCalibration fixture, ITestOutputHelper output) : IClassFixture<FixtureCalibration>
{
    private const int Layer = 1;

    /// <summary>Fewer steps than a conversion's 200, to keep the test short; enough to move well away from round-to-nearest.</summary>
    private static readonly SignedDescentOptions Short = new() { Steps = 40 };

    private LayerStatistics Statistics(out IReadOnlyList<float[]> states)
    {
        using var activations = new CalibrationActivations(fixture.Model, fixture.Windows, WorkerPool.Shared);
        for (int i = 0; i < Layer; i++) activations.Advance(fixture.Model.Weights.Layers[i], default);
        var statistics = activations.Observe(fixture.Model.Weights.Layers[Layer], default);
        states = statistics.LayerInputs!.Select(s => (float[])s.Clone()).ToArray();
        return statistics;
    }

    /// <summary>The mean squared difference between the layer run with <paramref name="candidate"/> and the float layer, over every window.</summary>
    private double BlockError(LayerWeights candidate, IReadOnlyList<float[]> states)
    {
        var config = fixture.Model.Config;
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared, states.Max(s => s.Length) / config.EmbeddingLength);
        var asFloat = FloatLayer.Of(candidate).ToFloat32(config);
        var reference = FloatLayer.Of(fixture.Model.Weights.Layers[Layer]).ToFloat32(config);
        double sum = 0;
        long count = 0;
        foreach (var input in states)
        {
            var expected = new float[input.Length];
            var actual = new float[input.Length];
            session.Reset();
            session.ForwardLayer(Layer, reference, input, expected);
            session.Reset();
            session.ForwardLayer(Layer, asFloat, input, actual);
            for (int i = 0; i < input.Length; i++) sum += (double)(expected[i] - actual[i]) * (expected[i] - actual[i]);
            count += input.Length;
        }
        return sum / count;
    }

    private LayerWeights RoundToNearest(Int4Format format)
    {
        var layer = fixture.Model.Weights.Layers[Layer];
        Int4Matrix Matrix(LlmCpu.Kernels.MatMul.WeightMatrix m) => Int4Matrix.Quantize(FloatRows.Of(m), m.Rows, m.Columns, format);
        return layer.With(Matrix(layer.QueryKeyValue), Matrix(layer.AttentionOutput), Matrix(layer.GateUp), Matrix(layer.Down));
    }

    public static TheoryData<Int4Recipe, int, bool> Cases => new()
    {
        { Int4Recipe.SignRound, 128, false },
        { Int4Recipe.SignRound, 32, true },
        { Int4Recipe.Teq, 128, false },
        { Int4Recipe.Teq, 32, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheBlocksOutputErrorIsBelowRoundToNearests(Int4Recipe recipe, int groupSize, bool asymmetric)
    {
        var statistics = Statistics(out var states);
        var format = new Int4Format(groupSize, asymmetric);
        var config = fixture.Model.Config;
        var log = new RecordingLog();
        ILayerRecipe layerRecipe = recipe == Int4Recipe.SignRound
            ? new SignRoundLayerRecipe(format, ActivationMode.Int8, WorkerPool.Shared, config, log, default, Short)
            : new TeqLayerRecipe(format, ActivationMode.Int8, WorkerPool.Shared, config, log, default, Short with { LearningRate = SignedDescentOptions.Teq.LearningRate });
        long start = Stopwatch.GetTimestamp();
        using var trained = layerRecipe.Quantize(Layer, fixture.Model.Weights.Layers[Layer], statistics);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        using var rtn = RoundToNearest(format);
        double ours = BlockError(trained, states), plain = BlockError(rtn, states);
        output.WriteLine($"{recipe} {format}: block error {ours:G5}, round-to-nearest {plain:G5} ({ours / plain:P1}); {Short.Steps} steps in {seconds:F1} s");
        foreach (var line in log.VerboseLines) output.WriteLine(line);
        Assert.Contains(log.VerboseLines, l => l.Contains("block output error"));
        Assert.All(trained.Matrices, m => Assert.Equal(recipe, Assert.IsType<Int4Matrix>(m).Int4Format.Recipe));
        Assert.True(ours < plain, $"{recipe}: block error {ours}, round-to-nearest {plain}");
    }

    /// <summary>
    /// Trained towards the float model's output (layer 0 quantized before it, so the block's inputs are not the float
    /// model's): the block's output is closer to that target than round-to-nearest's, and the log says which target.
    /// </summary>
    [Theory]
    [InlineData(Int4Recipe.SignRound)]
    [InlineData(Int4Recipe.Teq)]
    public void TowardsTheFloatModelsOutputTheErrorIsBelowRoundToNearests(Int4Recipe recipe)
    {
        var format = new Int4Format(128, false);
        var config = fixture.Model.Config;
        var layer0 = fixture.Model.Weights.Layers[0];
        Int4Matrix Quantized(LlmCpu.Kernels.MatMul.WeightMatrix m) => Int4Matrix.Quantize(FloatRows.Of(m), m.Rows, m.Columns, new Int4Format(128, false));
        using var quantized0 = layer0.With(Quantized(layer0.QueryKeyValue), Quantized(layer0.AttentionOutput), Quantized(layer0.GateUp), Quantized(layer0.Down));
        using var activations = new CalibrationActivations(fixture.Model, fixture.Windows, WorkerPool.Shared, floatModelStates: true);
        activations.Observe(layer0, default);
        activations.Advance(quantized0, default);
        var statistics = activations.Observe(fixture.Model.Weights.Layers[Layer], default);
        var states = statistics.LayerInputs!.Select(s => (float[])s.Clone()).ToArray();
        var targets = statistics.FloatModelOutputs!.Select(s => (float[])s.Clone()).ToArray();
        var log = new RecordingLog();
        var options = Short with { FloatModelTargets = true, LearningRate = recipe == Int4Recipe.Teq ? SignedDescentOptions.Teq.LearningRate : Short.LearningRate };
        ILayerRecipe layerRecipe = recipe == Int4Recipe.SignRound
            ? new SignRoundLayerRecipe(format, ActivationMode.Int8, WorkerPool.Shared, config, log, default, options)
            : new TeqLayerRecipe(format, ActivationMode.Int8, WorkerPool.Shared, config, log, default, options);
        Assert.True(layerRecipe.WantsFloatModelOutputs);
        using var trained = layerRecipe.Quantize(Layer, fixture.Model.Weights.Layers[Layer], statistics);
        using var rtn = RoundToNearest(format);
        double ours = ErrorTowards(trained, states, targets), plain = ErrorTowards(rtn, states, targets);
        output.WriteLine($"{recipe}: error towards the float model {ours:G5}, round-to-nearest {plain:G5} ({ours / plain:P1})");
        Assert.Contains(log.VerboseLines, l => l.Contains("towards the float model's output"));
        Assert.True(ours < plain, $"{recipe}: {ours} against round-to-nearest's {plain}");
    }

    /// <summary>The mean squared difference between the layer run with <paramref name="candidate"/> on <paramref name="states"/> and <paramref name="targets"/>.</summary>
    private double ErrorTowards(LayerWeights candidate, IReadOnlyList<float[]> states, IReadOnlyList<float[]> targets)
    {
        var config = fixture.Model.Config;
        using var session = new InferenceSession(fixture.Model, WorkerPool.Shared, states.Max(s => s.Length) / config.EmbeddingLength);
        var asFloat = FloatLayer.Of(candidate).ToFloat32(config);
        double sum = 0;
        long count = 0;
        for (int w = 0; w < states.Count; w++)
        {
            var actual = new float[states[w].Length];
            session.Reset();
            session.ForwardLayer(Layer, asFloat, states[w], actual);
            for (int i = 0; i < actual.Length; i++) sum += (double)(targets[w][i] - actual[i]) * (targets[w][i] - actual[i]);
            count += actual.Length;
        }
        return sum / count;
    }

    [Theory]
    [InlineData(Int4Recipe.SignRound)]
    [InlineData(Int4Recipe.Teq)]
    public void ACancelledTrainingStopsWithinAStep(Int4Recipe recipe)
    {
        var statistics = Statistics(out _);
        var config = fixture.Model.Config;
        using var cancellation = new CancellationTokenSource();
        ILayerRecipe layerRecipe = recipe == Int4Recipe.SignRound
            ? new SignRoundLayerRecipe(new Int4Format(128, false), ActivationMode.Int8, WorkerPool.Shared, config, NullEngineLog.Instance, cancellation.Token)
            : new TeqLayerRecipe(new Int4Format(128, false), ActivationMode.Int8, WorkerPool.Shared, config, NullEngineLog.Instance, cancellation.Token);
        long cancelledAt = 0;
        cancellation.Token.Register(() => cancelledAt = Stopwatch.GetTimestamp());
        cancellation.CancelAfter(TimeSpan.FromSeconds(1));
        Assert.ThrowsAny<OperationCanceledException>(() => layerRecipe.Quantize(Layer, fixture.Model.Weights.Layers[Layer], statistics));
        double late = Stopwatch.GetElapsedTime(cancelledAt).TotalSeconds;
        output.WriteLine($"{recipe}: stopped {late:F2} s after the cancellation");
        // A whole 200-step training takes a minute or more here; a window's forward and backward, the longest stretch
        // between two checks, a small fraction of a second.
        Assert.True(late < 5, $"stopped {late} s after the cancellation");
    }

    [Theory]
    [InlineData(Int4Recipe.SignRound)]
    [InlineData(Int4Recipe.Teq)]
    public void ALayerWhoseErrorIsNotFiniteIsANumericError(Int4Recipe recipe)
    {
        var statistics = Statistics(out var states);
        var broken = states.Select(s => (float[])s.Clone()).ToArray();
        broken[0][7] = float.PositiveInfinity;
        var withInfinity = new LayerStatistics(fixture.Model.Config) { LayerInputs = broken };
        var config = fixture.Model.Config;
        ILayerRecipe layerRecipe = recipe == Int4Recipe.SignRound
            ? new SignRoundLayerRecipe(new Int4Format(128, false), ActivationMode.Int8, WorkerPool.Shared, config, NullEngineLog.Instance, default, Short)
            : new TeqLayerRecipe(new Int4Format(128, false), ActivationMode.Int8, WorkerPool.Shared, config, NullEngineLog.Instance, default, Short);
        Assert.Throws<LlmCpu.Engine.ModelNumericException>(() => layerRecipe.Quantize(Layer, fixture.Model.Weights.Layers[Layer], withInfinity));
    }

    [Fact]
    public void SignRoundOnAnotherLayoutFallsBackToThePerMatrixLossAndSaysSo()
    {
        using var model = ModelLoader.Load(RepoPaths.ArchitectureFixture("gptj"));
        var windows = (CalibrationText.BuiltIn with { RequestedTokens = CalibrationText.MinimumTokens }).Windows(model);
        using var activations = new CalibrationActivations(model, windows, WorkerPool.Shared);
        var statistics = activations.Observe(model.Weights.Layers[0], default);
        var log = new RecordingLog();
        var recipe = new SignRoundLayerRecipe(new Int4Format(32, false), ActivationMode.Int8, WorkerPool.Shared, model.Config, log, default, new SignedDescentOptions { Steps = 5 });
        using var result = recipe.Quantize(0, model.Weights.Layers[0], statistics);
        Assert.Contains(log.VerboseLines, l => l.Contains("each matrix on its own output error") && l.Contains("LayerNorms"));
        Assert.DoesNotContain(log.VerboseLines, l => l.Contains("block output error"));
        Assert.Equal(Int4Recipe.SignRound, Assert.IsType<Int4Matrix>(result.Down).Int4Format.Recipe);
    }
}
