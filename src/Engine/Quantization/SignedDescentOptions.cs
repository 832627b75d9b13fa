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

    /// <summary>The rate of step <paramref name="step"/> (0 .. Steps - 1).</summary>
    public float RateAt(int step) => (float)(LearningRate * (1 - (double)step / Steps));
}
