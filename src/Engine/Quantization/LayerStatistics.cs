using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>What one decoder layer's four matrices saw of the calibration text: an accumulator per input.</summary>
public sealed class LayerStatistics
{
    private readonly HessianAccumulator[] _inputs;

    public LayerStatistics(ModelConfig config)
    {
        int dim = config.EmbeddingLength;
        _inputs = [new(dim), new(dim), new(dim), new(config.FeedForwardLength)];
    }

    public HessianAccumulator this[LinearInput input] => _inputs[(int)input];

    /// <summary>
    /// Runs <paramref name="windows"/> through <paramref name="model"/> with the engine's forward pass and sums the
    /// inputs of layer <paramref name="layer"/>'s matrices. Only that layer's sums are kept, never any activations.
    /// </summary>
    public static LayerStatistics Collect(LanguageModel model, int layer, IReadOnlyList<int[]> windows, WorkerPool pool, CancellationToken cancellation)
    {
        var statistics = new LayerStatistics(model.Config);
        using var session = new InferenceSession(model, pool, windows.Max(w => w.Length)) { LinearInputs = new Capture(statistics, layer, pool) };
        foreach (var window in windows)
        {
            cancellation.ThrowIfCancellationRequested();
            session.Reset();
            session.Prefill(window, cancellation);
        }
        return statistics;
    }

    private sealed class Capture(LayerStatistics statistics, int layer, WorkerPool pool) : ILinearInputObserver
    {
        public void Observe(int l, LinearInput matrix, ReadOnlySpan<float> input, int tokens)
        {
            if (l == layer) statistics[matrix].Add(input, tokens, pool);
        }
    }
}
