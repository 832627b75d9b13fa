using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// The calibration windows' hidden states at the input of one decoder layer, carried through the model a layer at a
/// time with the engine's own forward pass (<see cref="InferenceSession.ForwardLayer"/>): <see cref="Observe"/> runs the
/// current layer on them to sum its matrices' inputs, <see cref="Advance"/> runs it (quantized) to make the next
/// layer's inputs. Each layer is thus run twice over the windows, whatever its depth, where running the whole model
/// for every layer cost layers² layer passes (and a vocabulary-sized output projection each time). The states are one
/// layer's activations, (windows, window tokens, dim) floats: 32 MB for 4,096 tokens of a 2,048-wide model.
/// </summary>
/// <remarks>
/// Every window starts from an empty cache at position 0 and runs in the forward pass's chunks, so layer l computes
/// exactly what a whole forward pass of the same windows computes there, on the same inputs.
/// </remarks>
internal sealed class CalibrationActivations : IDisposable
{
    private readonly InferenceSession _session;
    private readonly float[][] _states; // (windows) of (window tokens, dim)
    private readonly float[][]? _floatStates; // the same windows through the float layers, where asked for
    private readonly ModelConfig _config;
    private readonly WorkerPool _pool;

    /// <param name="model">Its token embedding gives layer 0's inputs; its KV cache pool holds the windows' keys and values.</param>
    /// <param name="floatModelStates">
    /// Also carry the windows through the float layers (a second set of states), so that <see cref="Observe"/> can give
    /// the float model's output of each layer as the block-wise recipes' target (<see cref="LayerStatistics.FloatModelOutputs"/>).
    /// </param>
    public CalibrationActivations(LanguageModel model, IReadOnlyList<int[]> windows, WorkerPool pool, bool floatModelStates = false)
    {
        _config = model.Config;
        _pool = pool;
        _session = new InferenceSession(model, pool, windows.Max(w => w.Length));
        try
        {
            _states = new float[windows.Count][];
            for (int w = 0; w < windows.Count; w++)
            {
                _states[w] = new float[(long)windows[w].Length * _config.EmbeddingLength];
                _session.Embed(windows[w], _states[w]);
            }
            _floatStates = floatModelStates ? _states.Select(state => (float[])state.Clone()).ToArray() : null;
        }
        catch
        {
            _session.Dispose();
            throw;
        }
    }

    /// <summary>The layer the states are the inputs of.</summary>
    public int Layer { get; private set; }

    /// <summary>
    /// Runs <see cref="Layer"/>, with <paramref name="weights"/> (the float layer), on every window and sums its four
    /// matrices' inputs; the states are left as they are. Where the float model's states are carried, they move on
    /// through the layer and are given as <see cref="LayerStatistics.FloatModelOutputs"/>.
    /// </summary>
    public LayerStatistics Observe(LayerWeights weights, CancellationToken cancellation)
    {
        if (_floatStates is not null) RunInPlace(_floatStates, weights, cancellation);
        var statistics = new LayerStatistics(_config) { LayerInputs = _states, FloatModelOutputs = _floatStates };
        _session.LinearInputs = new Capture(statistics, Layer, _pool);
        try
        {
            foreach (var states in _states)
            {
                cancellation.ThrowIfCancellationRequested();
                _session.Reset();
                _session.ForwardLayer(Layer, weights, states, Span<float>.Empty, cancellation);
            }
        }
        finally
        {
            _session.LinearInputs = null;
        }
        return statistics;
    }

    /// <summary>Runs <see cref="Layer"/>, with <paramref name="weights"/> (the layer as quantized), on every window: the states become the next layer's inputs.</summary>
    public void Advance(LayerWeights weights, CancellationToken cancellation)
    {
        RunInPlace(_states, weights, cancellation);
        Layer++;
    }

    /// <summary>Runs <see cref="Layer"/> with <paramref name="weights"/> on every window of <paramref name="windows"/>, each state becoming the layer's output.</summary>
    private void RunInPlace(float[][] windows, LayerWeights weights, CancellationToken cancellation)
    {
        foreach (var states in windows)
        {
            cancellation.ThrowIfCancellationRequested();
            _session.Reset();
            _session.ForwardLayer(Layer, weights, states, states, cancellation);
        }
    }

    public void Dispose() => _session.Dispose();

    private sealed class Capture(LayerStatistics statistics, int layer, WorkerPool pool) : ILinearInputObserver
    {
        public void Observe(int l, LinearInput matrix, ReadOnlySpan<float> input, int tokens)
        {
            if (l == layer) statistics[matrix].Add(input, tokens, pool);
        }
    }
}
