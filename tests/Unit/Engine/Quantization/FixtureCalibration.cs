using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
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
        Layer0 = LayerStatistics.Collect(Model, 0, Windows, WorkerPool.Shared, default);
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

    public void Dispose() => Model.Dispose();
}
