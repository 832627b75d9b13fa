using LlmCpu.Engine.Tokenization.Bpe;

namespace LlmCpu.Tests.Engine.Tokenization;

public sealed class SpecialTokenSplitterTests
{
    private static string[] Describe(string text, List<TextPiece> pieces) =>
        [.. pieces.Select(p => p.IsSpecial ? $"#{p.SpecialId}" : text.Substring(p.Start, p.Length))];

    [Fact]
    public void LongerTokensWin()
    {
        var splitter = new SpecialTokenSplitter([new SpecialToken("<|a|>", 1, IsControl: true), new SpecialToken("<|a|><|b|>", 2, IsControl: true)]);
        const string text = "x<|a|><|b|>y<|a|>";

        Assert.Equal(["x", "#2", "y", "#1"], Describe(text, splitter.Split(text, matchControl: true)));
    }

    [Fact]
    public void ControlTokens_OnlyWhenAsked_UserDefinedAlways()
    {
        var splitter = new SpecialTokenSplitter([new SpecialToken("<c>", 1, IsControl: true), new SpecialToken("<u>", 2, IsControl: false)]);
        const string text = "<c>a<u>";

        Assert.Equal(["<c>a", "#2"], Describe(text, splitter.Split(text, matchControl: false)));
        Assert.Equal(["#1", "a", "#2"], Describe(text, splitter.Split(text, matchControl: true)));
    }

    [Fact]
    public void StripFlags_DropNeighbouringWhitespace()
    {
        var splitter = new SpecialTokenSplitter([new SpecialToken("<m>", 7, IsControl: true, StripLeft: true, StripRight: true)]);
        const string text = "a  <m>  b";

        Assert.Equal(["a", "#7", "b"], Describe(text, splitter.Split(text, matchControl: true)));
    }
}
