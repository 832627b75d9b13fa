using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// The block the block-wise recipes train through: its forward against the engine's own layer
/// (<see cref="InferenceSession.ForwardLayer"/>, FP32 weights and cache) on calibration windows' real hidden states, and
/// its gradients against central finite differences of the loss computed in double by <see cref="NaiveDecoderBlock"/>.
/// </summary>
public sealed class DecoderBlockGradientTests(ITestOutputHelper output)
{
    public static TheoryData<string, int> Models => new()
    {
        { RepoPaths.FixtureModel, 3 },
        { RepoPaths.ArchitectureFixture("llama3"), 1 },   // rope scaling
        { RepoPaths.ArchitectureFixture("mistral"), 1 },  // a sliding window of 8
        { RepoPaths.ArchitectureFixture("qwen2"), 1 },    // Q/K/V biases
    };

    /// <summary>The hidden states of two calibration windows at the input of <paramref name="layer"/>, the layers before it float.</summary>
    private static IReadOnlyList<float[]> States(LanguageModel model, int layer)
    {
        var windows = (CalibrationText.BuiltIn with { RequestedTokens = CalibrationText.MinimumTokens }).Windows(model);
        using var activations = new CalibrationActivations(model, windows, WorkerPool.Shared);
        for (int i = 0; i < layer; i++) activations.Advance(model.Weights.Layers[i], default);
        return activations.Observe(model.Weights.Layers[layer], default).LayerInputs!.Select(s => (float[])s.Clone()).ToArray();
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void ItsForwardIsTheEnginesLayer(string path, int layer)
    {
        using var model = ModelLoader.Load(path, new LoadOptions { Precision = ModelPrecision.Float32 });
        var config = model.Config;
        var states = States(model, layer);
        int dim = config.EmbeddingLength, tokens = states[0].Length / dim;
        var weights = model.Weights.Layers[layer];
        var block = new DecoderBlockGradient(config, weights, tokens, WorkerPool.Shared);
        var f = FloatLayer.Of(weights);
        block.SetWeights(f.QueryKeyValue, f.AttentionOutput, f.GateUp, f.Down);
        using var session = new InferenceSession(model, WorkerPool.Shared, tokens);
        var expected = new float[states[0].Length];
        var actual = new float[states[0].Length];
        foreach (var input in states)
        {
            session.Reset();
            session.ForwardLayer(layer, weights, input, expected);
            block.Forward(input, tokens, actual);
            float scale = expected.Max(MathF.Abs), error = expected.Zip(actual, (a, b) => MathF.Abs(a - b)).Max();
            output.WriteLine($"{config.Architecture} layer {layer}, {tokens} tokens: max |block - engine| {error:G3}, {error / scale:E2} of the largest output {scale:G4}");
            Assert.True(error <= 1e-4f * scale, $"max |block - engine| {error}, largest output {scale}");
        }
    }

    public static TheoryData<string, int> GradientModels => new()
    {
        { RepoPaths.FixtureModel, 12 },
        { RepoPaths.ArchitectureFixture("mistral"), 16 },  // longer than the window
        { RepoPaths.ArchitectureFixture("qwen2"), 12 },
    };

    /// <summary>
    /// dLoss/dW for each of the four matrices, at round-to-nearest's weights against the float block's output, equals
    /// the central difference of the double-precision loss at a sample of entries (Q, K and V rows, gate and up rows alike).
    /// </summary>
    [Theory]
    [MemberData(nameof(GradientModels))]
    public void ItsGradientsAreTheLosssFiniteDifferences(string path, int tokens)
    {
        using var model = ModelLoader.Load(path, new LoadOptions { Precision = ModelPrecision.Float32 });
        var config = model.Config;
        int dim = config.EmbeddingLength;
        var layer = model.Weights.Layers[1];
        var input = States(model, 1)[0].AsSpan(0, tokens * dim).ToArray();
        var f = FloatLayer.Of(layer);
        float[][] exact = [f.QueryKeyValue, f.AttentionOutput, f.GateUp, f.Down];
        var shapes = new[] { layer.QueryKeyValue, layer.AttentionOutput, layer.GateUp, layer.Down };
        // The point: round-to-nearest's weights, so the output differs from the float block's and the gradient is not 0.
        var point = exact.Select((w, m) =>
        {
            using var q = Int4Matrix.Quantize(w, shapes[m].Rows, shapes[m].Columns, new Int4Format(32, false));
            return RandomLayer.Dequantized(q);
        }).ToArray();

        var block = new DecoderBlockGradient(config, layer, tokens, WorkerPool.Shared);
        block.SetWeights(exact[0], exact[1], exact[2], exact[3]);
        var target = new float[tokens * dim];
        block.Forward(input, tokens, target);
        block.SetWeights(point[0], point[1], point[2], point[3]);
        block.ClearGradients();
        double loss = block.Loss(input, tokens, target, 1.0, backward: true);

        var w = point.Select(p => p.Select(v => (double)v).ToArray()).ToArray();
        double naive = NaiveDecoderBlock.SquaredError(config, layer, w, input, tokens, target);
        output.WriteLine($"{config.Architecture}: loss {loss:G8}, in double {naive:G8}");
        Assert.True(Math.Abs(loss - naive) <= 1e-3 * naive, $"loss {loss}, in double {naive}");

        var random = new Random(5);
        const double h = 1e-3;
        for (int m = 0; m < 4; m++)
        {
            int rows = shapes[m].Rows, columns = shapes[m].Columns;
            // Rows from every block of the stacked matrices: Q, K, V; gate, up.
            var sampleRows = Enumerable.Range(0, 12).Select(i => (int)((long)rows * i / 12 + random.Next(rows / 12))).ToArray();
            double worst = 0, largest = 0;
            var pairs = new List<(double Gradient, double Difference)>();
            foreach (int r in sampleRows)
            {
                int at = r * columns + random.Next(columns);
                double saved = w[m][at];
                w[m][at] = saved + h;
                double up = NaiveDecoderBlock.SquaredError(config, layer, w, input, tokens, target);
                w[m][at] = saved - h;
                double down = NaiveDecoderBlock.SquaredError(config, layer, w, input, tokens, target);
                w[m][at] = saved;
                pairs.Add((block.Gradients[m][at], (up - down) / (2 * h)));
            }
            largest = pairs.Max(p => Math.Abs(p.Difference));
            foreach (var (gradient, difference) in pairs)
            {
                double error = Math.Abs(gradient - difference);
                worst = Math.Max(worst, error / largest);
                Assert.True(error <= 1e-4 * largest + 1e-3 * Math.Abs(difference), $"matrix {(LinearInput)m}: gradient {gradient}, finite difference {difference} (largest {largest})");
            }
            output.WriteLine($"{config.Architecture} {(LinearInput)m}: worst |gradient - difference| {worst:E2} of the largest difference {largest:G4}");
            Assert.True(largest > 0);
        }
    }

    [Theory]
    [InlineData("gptj")]
    [InlineData("falcon-40b")]
    [InlineData("gptneox")]
    public void OtherLayoutsAreNamed(string family)
    {
        using var model = ModelLoader.Load(RepoPaths.ArchitectureFixture(family));
        Assert.NotNull(DecoderBlockGradient.CannotRun(model.Config));
        Assert.Throws<ArgumentException>(() => new DecoderBlockGradient(model.Config, model.Weights.Layers[0], 8, WorkerPool.Shared));
    }
}
