using LlmCpu.Engine;
using LlmCpu.Engine.Quantization;

namespace LlmCpu.Tests.Engine.Quantization;

public sealed class CalibrationTextTests(FixtureCalibration fixture) : IClassFixture<FixtureCalibration>
{
    [Fact]
    public void TheBuiltInSampleGivesWindowsOfTheModelsContextWithBosFirst()
    {
        var windows = CalibrationText.BuiltIn.Windows(fixture.Model);
        Assert.Equal(CalibrationText.DefaultTokens / 256, windows.Length);
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

    /// <summary>The built-in sample four times over: about 76,000 tokens, more than 65,536.</summary>
    private static readonly CalibrationText Long = new("sample x4", string.Join("\n", Enumerable.Repeat(CalibrationText.BuiltIn.Text, 4)));

    [Theory]
    [InlineData(null, 64)]
    [InlineData(512, 2)]
    [InlineData(8192, 32)]
    [InlineData(32768, 128)]
    [InlineData(32900, 128)]
    [InlineData(65536, 256)]
    public void MoreTokensThanTheDefaultAreUsedWhenAskedFor(int? tokens, int windows)
    {
        var text = Long with { RequestedTokens = tokens };
        var result = text.Windows(fixture.Model);
        Assert.Equal(windows, result.Length);
        Assert.Equal(tokens ?? CalibrationText.DefaultTokens, text.TokenLimit);
        // Consecutive windows of the text: the last one starts where the windows before it end.
        var all = fixture.Model.Tokenizer.Encode(Long.Text, fixture.Model.Tokenizer.AddBosByDefault);
        Assert.Equal(all.AsSpan((windows - 1) * 256 + 1, 255).ToArray(), result[^1].Skip(1));
    }

    [Fact]
    public void AShortTextGivesWhatItHasWhateverIsAskedFor()
    {
        int available = fixture.Model.Tokenizer.Encode(CalibrationText.BuiltIn.Text, true).Length / 256;
        Assert.Equal(available, (CalibrationText.BuiltIn with { RequestedTokens = CalibrationText.MaximumTokens }).Windows(fixture.Model).Length);
    }

    [Theory]
    [InlineData(511)]
    [InlineData(0)]
    [InlineData(-4096)]
    [InlineData(65537)]
    public void TokensOutsideTheRangeAreRefusedNamingIt(int tokens)
    {
        var e = Assert.Throws<QuantizationArgumentException>(() => CalibrationText.BuiltIn with { RequestedTokens = tokens });
        Assert.Equal(QuantizationProblem.CalibrationTokensOutOfRange, e.Problem);
        Assert.Equal("CalibrationTokens", e.ParamName);
        Assert.Contains("from 512 to 65536", e.Message);
        Assert.Contains(tokens.ToString(), e.Message);
    }
}
