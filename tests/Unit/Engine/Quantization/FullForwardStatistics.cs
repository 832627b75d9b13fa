using LlmCpu.Engine.Models;
using LlmCpu.Engine.Quantization;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Engine.Quantization;

/// <summary>
/// The reference for <see cref="CalibrationActivations"/>: one layer's input statistics collected by running every
/// window through the whole model (every layer and the output projection) with the ordinary prefill, observing only
/// that layer. Simple and obviously what the forward pass sees, but a pass of the whole model per layer.
/// </summary>
internal static class FullForwardStatistics
{
    public static LayerStatistics Collect(LanguageModel model, int layer, IReadOnlyList<int[]> windows, WorkerPool pool)
    {
        var statistics = new LayerStatistics(model.Config);
        using var session = new InferenceSession(model, pool, windows.Max(w => w.Length)) { LinearInputs = new Capture(statistics, layer, pool) };
        foreach (var window in windows)
        {
            session.Reset();
            session.Prefill(window);
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
