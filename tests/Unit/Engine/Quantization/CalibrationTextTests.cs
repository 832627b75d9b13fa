using LlmCpu.Engine;
using LlmCpu.Engine.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class CalibrationTextTests(FixtureCalibration fixture) : IClassFixture<FixtureCalibration>
{
    [Fact]
    public void TheBuiltInSampleGivesWindowsOfTheModelsContextWithBosFirst()
    {
        var windows = CalibrationText.BuiltIn.Windows(fixture.Model);
        Assert.InRange(windows.Length, 2, CalibrationText.MaximumTokens / 256);
        Assert.All(windows, w => Assert.Equal(Math.Min(CalibrationText.WindowLength, fixture.Model.ContextLength), w.Length));
        Assert.All(windows, w => Assert.Equal(fixture.Model.Tokenizer.BosTokenId, w[0]));
        Assert.NotEqual(windows[0].Skip(1), windows[1].Skip(1));
    }

    [Fact]
    public void TextShorterThanTheMinimumIsRefusedNamingIt()
    {
        var text = new CalibrationText("short.txt", "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.");
        var e = Assert.Throws<QuantizationArgumentException>(() => text.Windows(fixture.Model));
        Assert.Equal(QuantizationProblem.CalibrationTextTooShort, e.Problem);
        Assert.Equal("CalibrationPath", e.ParamName);
        Assert.Contains("short.txt", e.Message);
        Assert.Contains(CalibrationText.MinimumTokens.ToString(), e.Message);
    }
}
