namespace LlmCpu.Engine;

/// <summary>What was wrong with a quantization request; each value is a stable error identifier.</summary>
public enum QuantizationProblem
{
    /// <summary>The calibration text gives fewer tokens than the recipe needs.</summary>
    CalibrationTextTooShort,

    /// <summary>The number of calibration tokens asked for is outside the accepted range; the message names it.</summary>
    CalibrationTokensOutOfRange,

    /// <summary>A group size given for one kind of layer matrix is not one the format has, or names no kind of matrix.</summary>
    InvalidMatrixGroupSize,

    /// <summary>The calibration text is the evaluation text: a recipe tuned on the text it is measured on would look better than it is.</summary>
    CalibrationIsEvaluationText,

    /// <summary>The recipe needs calibration activations, which only a conversion collects.</summary>
    RecipeNeedsCalibration,

    /// <summary>The recipe is named but not implemented yet.</summary>
    RecipeNotImplemented,

    /// <summary>The automatic recipe measures each candidate, so it needs evaluation text.</summary>
    EvaluationTextRequired,
}

/// <summary>A quantization request that cannot be carried out as asked; <see cref="Problem"/> says why.</summary>
public class QuantizationArgumentException(QuantizationProblem problem, string parameter, string message) : ArgumentException(message, parameter)
{
    public QuantizationProblem Problem { get; } = problem;
}
