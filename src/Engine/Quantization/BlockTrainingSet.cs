using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>
/// What the block-wise recipes train on: the calibration windows' hidden states at the layer's input, and as target the
/// float block's output on those same states. The target is the float layer on the inputs the quantized layers before
/// it produce, not the float model's states at that depth (auto-round's <c>enable_quanted_input</c>): it needs no second
/// set of states carried through the model, and each layer is asked to reproduce its own float function, not to make
/// up for the error of the layers before it.
/// <para>The loss is the mean squared difference over a set of windows' outputs. Each training step takes a minibatch
/// of <see cref="SignedDescentOptions.BatchWindows"/> windows in turn (the windows shuffled once, with a fixed seed);
/// points are compared on a fixed evaluation set of up to <see cref="SignedDescentOptions.EvaluationWindows"/> windows
/// spread over the calibration set, so that the best point kept is chosen on one loss, not on minibatches that differ.</para>
/// </summary>
internal sealed class BlockTrainingSet
{
    private readonly IReadOnlyList<float[]> _states;
    private readonly float[][] _targets;
    private readonly int[] _order, _evaluation;
    private readonly int _dim, _batch;

    /// <summary>
    /// Whether the block-wise loss runs for a layer of <paramref name="config"/> with these statistics: the layer's
    /// inputs came with them and the block is one <see cref="DecoderBlockGradient"/> runs.
    /// </summary>
    public static bool Runs(ModelConfig config, LayerStatistics statistics) => statistics.LayerInputs is not null && DecoderBlockGradient.CannotRun(config) is null;

    /// <summary>Whether a block-wise recipe with <paramref name="options"/> trains towards the float model's outputs, which the calibration must then carry.</summary>
    public static bool WantsFloatModelOutputs(ModelConfig config, SignedDescentOptions options) => options.FloatModelTargets && DecoderBlockGradient.CannotRun(config) is null;

    /// <summary>
    /// The set a layer recipe trains on (<see cref="Runs"/> must hold): the statistics' layer inputs, and as targets the
    /// float model's outputs where <see cref="SignedDescentOptions.FloatModelTargets"/> asks for them and they were carried.
    /// </summary>
    public BlockTrainingSet(ModelConfig config, LayerWeights layer, LayerStatistics statistics, SignedDescentOptions options, WorkerPool pool,
        CancellationToken cancellation)
        : this(config, layer, statistics.LayerInputs ?? throw new ArgumentException("The statistics carry no layer inputs.", nameof(statistics)), options, pool,
            cancellation, options.FloatModelTargets ? statistics.FloatModelOutputs : null)
    {
    }

    /// <param name="targets">
    /// The outputs to train towards, one per window; null for the float block's own output on <paramref name="states"/>.
    /// </param>
    public BlockTrainingSet(ModelConfig config, LayerWeights layer, IReadOnlyList<float[]> states, SignedDescentOptions options, WorkerPool pool,
        CancellationToken cancellation, IReadOnlyList<float[]>? targets = null)
    {
        _dim = config.EmbeddingLength;
        _states = states;
        int maxTokens = states.Max(s => s.Length / _dim);
        Block = new DecoderBlockGradient(config, layer, maxTokens, pool);
        var f = FloatLayer.Of(layer);
        Block.SetWeights(f.QueryKeyValue, f.AttentionOutput, f.GateUp, f.Down);
        if (targets is not null)
        {
            if (targets.Count != states.Count) throw new ArgumentException("One target per window.", nameof(targets));
            _targets = [.. targets];
            Target = "the float model's output";
        }
        else
        {
            _targets = new float[states.Count][];
            for (int w = 0; w < states.Count; w++)
            {
                cancellation.ThrowIfCancellationRequested();
                _targets[w] = new float[states[w].Length];
                Block.Forward(states[w], states[w].Length / _dim, _targets[w]);
            }
        }
        _order = Enumerable.Range(0, states.Count).ToArray();
        new Random(1234).Shuffle(_order);
        _batch = Math.Clamp(options.BatchWindows, 1, states.Count);
        int evaluationCount = Math.Min(options.EvaluationWindows, states.Count);
        _evaluation = Enumerable.Range(0, evaluationCount).Select(i => (int)((long)i * states.Count / evaluationCount)).ToArray();
    }

    public DecoderBlockGradient Block { get; }

    /// <summary>What the block is trained towards, for messages.</summary>
    public string Target { get; } = "the float layer's output on the same inputs";

    public int Windows => _states.Count;

    /// <summary>The mean squared output error over the evaluation windows with the block's current weights.</summary>
    public double Evaluate(CancellationToken cancellation) => Mean(_evaluation, backward: false, cancellation);

    /// <summary>
    /// The gradient of the mean squared output error over step <paramref name="step"/>'s minibatch, left in
    /// <see cref="DecoderBlockGradient.Gradients"/>; returns that loss.
    /// </summary>
    public double Gradient(int step, CancellationToken cancellation)
    {
        var batch = new int[_batch];
        for (int i = 0; i < _batch; i++) batch[i] = _order[((long)step * _batch + i) % _order.Length];
        Block.ClearGradients();
        return Mean(batch, backward: true, cancellation);
    }

    /// <summary>
    /// The signed descent both block-wise recipes run (<see cref="SignRoundBlockTraining"/>, <see cref="TeqBlockTraining"/>):
    /// each step the recipe's parameters become the block's weights; every <see cref="SignedDescentOptions.EvaluateEvery"/>
    /// steps and after the last the evaluation loss is taken and the parameters kept when it is the lowest so far (the
    /// first point, before any step, is round-to-nearest's); then the minibatch's gradient and one signed step.
    /// </summary>
    /// <returns>The evaluation loss of the first point and of the point kept.</returns>
    public (double First, double Kept) Descend(IBlockTrainingPoint point, SignedDescentOptions options, CancellationToken cancellation)
    {
        double first = double.NaN, kept = double.MaxValue;
        for (int step = 0; ; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            point.SetWeights(Block);
            if (step % options.EvaluateEvery == 0 || step == options.Steps)
            {
                double loss = Evaluate(cancellation);
                if (step == 0) first = loss;
                if (loss < kept)
                {
                    kept = loss;
                    point.Keep();
                }
            }
            if (step == options.Steps) return (first, kept);
            Gradient(step, cancellation);
            point.Step(Block.Gradients, options.RateAt(step));
        }
    }

    private double Mean(int[] windows, bool backward, CancellationToken cancellation)
    {
        long count = windows.Sum(w => (long)_states[w].Length);
        double sum = 0;
        foreach (int w in windows)
        {
            cancellation.ThrowIfCancellationRequested();
            sum += Block.Loss(_states[w], _states[w].Length / _dim, _targets[w], 1.0 / count, backward);
        }
        // A signed step cannot be taken on a NaN gradient, nor a best point chosen on a NaN loss.
        if (!double.IsFinite(sum))
            throw new ModelNumericException("The block's output error on the calibration windows is not finite; the layer's weights or its inputs hold values too large for FP32.");
        return sum / count;
    }
}

/// <summary>What a block-wise recipe trains, as <see cref="BlockTrainingSet.Descend"/> drives it.</summary>
internal interface IBlockTrainingPoint
{
    /// <summary>Sets the block's four matrices (<see cref="DecoderBlockGradient.SetWeights"/>) to those the current parameters give.</summary>
    void SetWeights(DecoderBlockGradient block);

    /// <summary>Keeps the current parameters as the best so far.</summary>
    void Keep();

    /// <summary>One signed step of the parameters from the loss's gradient with respect to each of the four matrices the last <see cref="SetWeights"/> gave.</summary>
    void Step(IReadOnlyList<float[]> gradients, float rate);
}
