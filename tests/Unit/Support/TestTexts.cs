using LlmCpu.Engine.Quantization;

namespace LlmCpu.Tests.Support;

/// <summary>The texts the accuracy and calibration tests share, read once.</summary>
public static class TestTexts
{
    /// <summary>The held-out text's path: the opening of <i>Persuasion</i>, a novel the bundled model was not trained on (TestData/persuasion-opening.README.md).</summary>
    public static string HeldOutPath => Path.Combine(RepoPaths.TestData, "persuasion-opening.txt");

    /// <summary>The held-out text: what accuracy is measured on, never calibrated on.</summary>
    public static string HeldOut => s_heldOut.Value;

    /// <summary>About 2,000 tokens of the built-in calibration sample: enough for the calibrated recipes, quick to run.</summary>
    public static CalibrationText ShortCalibration { get; } = new("first 8,000 characters of the built-in sample", CalibrationText.BuiltIn.Text[..8000]);

    private static readonly Lazy<string> s_heldOut = new(() => File.ReadAllText(HeldOutPath));
}
