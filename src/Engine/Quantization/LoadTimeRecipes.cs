using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Quantization;

/// <summary>Which recipes a loader can run while it reads a model, and what to say about the others.</summary>
internal static class LoadTimeRecipes
{
    /// <summary>Throws, naming what to do instead, when <paramref name="recipe"/> cannot run a row at a time while loading.</summary>
    /// <exception cref="QuantizationArgumentException">The recipe needs calibration or evaluation text.</exception>
    public static void Ensure(Int4Recipe recipe)
    {
        if (recipe.IsWeightOnly()) return;
        string weightOnly = $"Loading quantizes with {nameof(Int4Recipe.RoundToNearest)} or {nameof(Int4Recipe.MinimizeError)}.";
        throw recipe switch
        {
            Int4Recipe.Auto => new QuantizationArgumentException(QuantizationProblem.RecipeNeedsCalibration, "Recipe",
                "The Auto recipe converts the model with several recipes and measures each on evaluation text, which loading does not do. Run " +
                $"ConvertTo-Int4Model -Recipe Auto -EvaluationText <text> and load the file it writes. {weightOnly}"),
            _ => new QuantizationArgumentException(QuantizationProblem.RecipeNeedsCalibration, "Recipe",
                $"The {recipe} recipe quantizes layer by layer with calibration text, which loading does not do. Convert the model with " +
                $"ConvertTo-Int4Model -Recipe {recipe} (and -CalibrationPath) and load the file it writes. {weightOnly}"),
        };
    }
}
