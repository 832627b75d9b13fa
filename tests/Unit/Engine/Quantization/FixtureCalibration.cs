using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>The bundled model and what its layers see of the built-in calibration sample, loaded once for the tests that share it.</summary>
public sealed class FixtureCalibration : IDisposable
{
    public FixtureCalibration()
    {
        Model = ModelLoader.Load(RepoPaths.FixtureModel);
        Windows = CalibrationText.BuiltIn.Windows(Model);
        Layer0 = FullForwardStatistics.Collect(Model, 0, Windows, WorkerPool.Shared);
    }

    public LanguageModel Model { get; }

    public int[][] Windows { get; }

    /// <summary>The inputs of layer 0's matrices over the sample.</summary>
    public LayerStatistics Layer0 { get; }

    /// <summary>A model whose layers are <paramref name="layers"/>, sharing the fixture's embedding, final norm and output.</summary>
    internal LanguageModel WithLayers(LayerWeights[] layers)
    {
        var w = Model.Weights;
        var borrowed = new HashSet<WeightMatrix> { w.TokenEmbedding, w.Output };
        return new LanguageModel(Model.Name, Model.Path, Model.Config, new ModelWeights(w.TokenEmbedding, layers, w.OutputNorm, w.Output) { Borrowed = borrowed },
            Model.Tokenizer, Model.StoredPrecision, "F32", Model.FileSizeBytes, TimeSpan.Zero, storage: null);
    }

    /// <summary>
    /// Asserts that two sets of layers compute the same function: the fixture's model with either gives the same logits,
    /// within 1e-4 relative, at each of the sample's first 64 tokens. For transforms that must not change the float model.
    /// </summary>
    internal void AssertSameLogits(FloatLayer[] expectedLayers, FloatLayer[] actualLayers)
    {
        var config = Model.Config;
        using var a = WithLayers(expectedLayers.Select(l => l.ToFloat32(config)).ToArray());
        using var b = WithLayers(actualLayers.Select(l => l.ToFloat32(config)).ToArray());
        var tokens = Windows[0].AsSpan(0, 64).ToArray();
        using var sa = new InferenceSession(a, WorkerPool.Shared);
        using var sb = new InferenceSession(b, WorkerPool.Shared);
        var expected = new float[config.VocabularySize];
        for (int t = 0; t < tokens.Length; t++)
        {
            sa.Prefill(tokens.AsSpan(t, 1)).CopyTo(expected);
            var actual = sb.Prefill(tokens.AsSpan(t, 1));
            for (int v = 0; v < expected.Length; v++)
                Assert.True(Math.Abs(expected[v] - actual[v]) <= 1e-4 * (1 + Math.Abs(expected[v])), $"token {t}, logit {v}: {expected[v]} vs {actual[v]}");
        }
    }

    public void Dispose() => Model.Dispose();
}
