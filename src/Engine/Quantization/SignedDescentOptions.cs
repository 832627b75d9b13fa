namespace LlmCpu.Engine.Quantization;

/// <summary>
/// How the trained recipes (<see cref="SignRoundQuantizer"/>, <see cref="TeqScaleTraining"/>) descend on the
/// reconstruction loss: a fixed number of steps, each moving every parameter by the step's rate against the sign of
/// its gradient (the rate decaying linearly to 0, as in SignRound's reference), keeping the point with the lowest loss
/// seen. The first point is round-to-nearest's, so the result is never worse than it on that loss.
/// </summary>
internal sealed record SignedDescentOptions
{
    /// <summary>SignRound's defaults: 200 steps at 1 / 200.</summary>
    public static SignedDescentOptions SignRound { get; } = new();

    /// <summary>TEQ's: the same steps, on log s, at twice the rate, so a channel's scale can move by a factor of up to e^1 ≈ 2.7 either way.</summary>
    public static SignedDescentOptions Teq { get; } = new() { LearningRate = 1e-2 };

    public int Steps { get; init; } = 200;

    public double LearningRate { get; init; } = 5e-3;

    /// <summary>
    /// Calibration windows in each step's minibatch when training on the block's output error (<see cref="BlockTrainingSet"/>):
    /// 2 (512 tokens). On the bundled model's layer 1 (g128, 200 steps, error over all 16 windows) SignRound reached
    /// 0.0343, 0.0360, 0.0357 and 0.0365 with 1, 2, 4 and 8 windows (round-to-nearest 0.0592) and TEQ 0.0525, 0.0522 and
    /// 0.0520 with 2, 4 and 8: no better with more windows beyond the spread of runs, while a step's time grows with them.
    /// A signed step needs only each gradient's sign, which a small minibatch already gives for most weights.
    /// </summary>
    public int BatchWindows { get; init; } = 2;

    /// <summary>Windows, spread over the calibration set, on whose block output error points are compared to keep the best.</summary>
    public int EvaluationWindows { get; init; } = 8;

    /// <summary>Steps between two evaluations of the point reached (the first point, round-to-nearest's, and the last are always evaluated).</summary>
    public int EvaluateEvery { get; init; } = 10;

    /// <summary>
    /// Train each block towards the float model's output of that layer (auto-round's default, <c>enable_quanted_input</c>:
    /// the quantized layers before it feed the block, the float layers before it give the target), so a layer also
    /// makes up for the error of those before it; otherwise towards the float block's output on the same inputs the
    /// quantized block gets. The calibration then carries a second set of states through the float layers. On the
    /// bundled model at g128 this lowered SignRound's KL divergence from the float model by 14% and left TEQ's as it
    /// was (docs/quantization.md).
    /// </summary>
    public bool FloatModelTargets { get; init; } = true;

    /// <summary>The rate of step <paramref name="step"/> (0 .. Steps - 1).</summary>
    public float RateAt(int step) => (float)(LearningRate * (1 - (double)step / Steps));
}
