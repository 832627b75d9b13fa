using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// Carrying the calibration windows' hidden states layer by layer gives a layer exactly the input statistics that
/// running the whole model over the windows gives it (<see cref="FullForwardStatistics"/>), with the layers before it
/// already quantized, as a calibrated conversion has them.
/// </summary>
public sealed class CalibrationActivationsTests
{
    /// <summary>Two windows of 256 tokens (fewer where the model's context is shorter): four prefill chunks each.</summary>
    private static readonly CalibrationText Calibration = CalibrationText.BuiltIn with { RequestedTokens = CalibrationText.MinimumTokens };

    public static TheoryData<string, int> Models => new()
    {
        { RepoPaths.FixtureModel, 5 },
        { RepoPaths.ArchitectureFixture("mistral"), 1 },     // a sliding window
        { RepoPaths.ArchitectureFixture("gptj"), 1 },        // attention and feed-forward in parallel, one norm
        { RepoPaths.ArchitectureFixture("falcon-40b"), 1 },  // in parallel, two norms
        { RepoPaths.ArchitectureFixture("qwen2"), 1 },       // attention biases
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void ALayersStatisticsEqualThoseOfTheWholeForwardPassOverTheQuantizedLayersBeforeIt(string path, int layer)
    {
        using var source = ModelLoader.Load(path);
        var windows = Calibration.Windows(source);
        var pool = WorkerPool.Shared;
        // The layers before `layer` quantized (round-to-nearest), the rest float: what calibrating `layer` sees.
        var quantized = source.Weights.Layers.Select((l, i) => i < layer ? RoundToNearest(l) : l).ToArray();
        using var model = WithLayers(source, quantized);

        var expected = FullForwardStatistics.Collect(model, layer, windows, pool);

        using var activations = new CalibrationActivations(model, windows, pool);
        for (int i = 0; i < layer; i++) activations.Advance(quantized[i], default);
        Assert.Equal(layer, activations.Layer);
        var actual = activations.Observe(quantized[layer], default);

        foreach (var input in Enum.GetValues<LinearInput>())
        {
            Assert.Equal(expected[input].Tokens, actual[input].Tokens);
            Assert.Equal(windows.Sum(w => w.Length), actual[input].Tokens);
            // The same products on the same inputs in the same chunks: equal to the last bit.
            Assert.Equal(expected[input].Hessian(), actual[input].Hessian());
            Assert.Equal(expected[input].MeanAbsolute(), actual[input].MeanAbsolute());
        }
        foreach (var l in quantized.Take(layer)) l.Dispose();
    }

    [Fact]
    public void ObservingALayerLeavesTheStatesForTheNextAsTheyWere()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var windows = Calibration.Windows(model);
        var layers = model.Weights.Layers;
        using var activations = new CalibrationActivations(model, windows, WorkerPool.Shared);
        activations.Advance(layers[0], default);
        // Observed twice, the layer sees the same inputs: Observe does not move the states on.
        var first = activations.Observe(layers[1], default);
        var second = activations.Observe(layers[1], default);
        Assert.Equal(first[LinearInput.Down].Hessian(), second[LinearInput.Down].Hessian());
        // And the statistics do depend on the states: layer 1 observed on layer 0's inputs differs.
        using var fresh = new CalibrationActivations(model, windows, WorkerPool.Shared);
        var unpropagated = fresh.Observe(layers[1], default);
        Assert.NotEqual(first[LinearInput.QueryKeyValue].Hessian(), unpropagated[LinearInput.QueryKeyValue].Hessian());
    }

    /// <summary>
    /// With the float model's states carried, Observe gives the float layers' output at each depth, whatever the
    /// quantized path ran: after layer 0 is advanced quantized, layer 1's float outputs are still those of the float
    /// layers 0 and 1 (as a calibration without them, advanced float both times, computes them), and they differ from
    /// the float layer 1 on the quantized path's states, which is the other target.
    /// </summary>
    [Fact]
    public void TheFloatModelsOutputsFollowTheFloatLayers()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        var windows = Calibration.Windows(model);
        var layers = model.Weights.Layers;
        using var quantized0 = RoundToNearest(layers[0]);
        using var activations = new CalibrationActivations(model, windows, WorkerPool.Shared, floatModelStates: true);
        activations.Observe(layers[0], default);
        activations.Advance(quantized0, default);
        var atLayer1 = activations.Observe(layers[1], default);

        using var floatOnly = new CalibrationActivations(model, windows, WorkerPool.Shared);
        Assert.Null(floatOnly.Observe(layers[0], default).FloatModelOutputs);
        floatOnly.Advance(layers[0], default);
        floatOnly.Advance(layers[1], default);
        var expected = floatOnly.Observe(layers[2], default).LayerInputs!;
        Assert.Equal(expected.Count, atLayer1.FloatModelOutputs!.Count);
        for (int w = 0; w < expected.Count; w++) Assert.Equal(expected[w], atLayer1.FloatModelOutputs[w]);

        using var quantizedPath = new CalibrationActivations(model, windows, WorkerPool.Shared);
        quantizedPath.Advance(quantized0, default);
        quantizedPath.Advance(layers[1], default);
        var floatLayerOnQuantizedInputs = quantizedPath.Observe(layers[2], default).LayerInputs!;
        Assert.NotEqual(floatLayerOnQuantizedInputs[0], atLayer1.FloatModelOutputs[0]);
        // The quantized path's own states are still what it ran: layer 0 quantized.
        using var q0Only = new CalibrationActivations(model, windows, WorkerPool.Shared);
        q0Only.Advance(quantized0, default);
        var q0States = q0Only.Observe(layers[1], default).LayerInputs!;
        for (int w = 0; w < q0States.Count; w++) Assert.Equal(q0States[w], atLayer1.LayerInputs![w]);
    }

    [Fact]
    public void ACancelledPassStops()
    {
        using var model = ModelLoader.Load(RepoPaths.FixtureModel);
        using var activations = new CalibrationActivations(model, Calibration.Windows(model), WorkerPool.Shared);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => activations.Observe(model.Weights.Layers[0], cancelled.Token));
        Assert.ThrowsAny<OperationCanceledException>(() => activations.Advance(model.Weights.Layers[0], cancelled.Token));
    }

    private static LayerWeights RoundToNearest(LayerWeights layer) =>
        layer.With(Int4(layer.QueryKeyValue), Int4(layer.AttentionOutput), Int4(layer.GateUp), Int4(layer.Down));

    private static WeightMatrix Int4(WeightMatrix matrix)
    {
        var result = new Int4Matrix(matrix.Rows, matrix.Columns, new Int4Format(32, false), ActivationMode.Int8);
        var row = new float[matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.DequantizeRow(r, row);
            result.QuantizeRow(r, row);
        }
        return result;
    }

    /// <summary>A model of <paramref name="source"/>'s config, embedding and output with <paramref name="layers"/>, all borrowed.</summary>
    private static LanguageModel WithLayers(LanguageModel source, LayerWeights[] layers)
    {
        var w = source.Weights;
        var borrowed = new HashSet<WeightMatrix>(layers.SelectMany(l => l.Matrices)) { w.TokenEmbedding, w.Output };
        return new LanguageModel(source.Name, source.Path, source.Config,
            new ModelWeights(w.TokenEmbedding, layers, w.OutputNorm, w.Output, w.OutputNormBias, w.OutputBias) { Borrowed = borrowed },
            source.Tokenizer, source.StoredPrecision, "mixed", source.FileSizeBytes, TimeSpan.Zero, storage: null);
    }
}
