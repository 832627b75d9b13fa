using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

public sealed class TextGeneratorTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    [Fact]
    public void CancellationStopsBetweenTokens()
    {
        using var cancel = new CancellationTokenSource();
        var result = new TextGenerator(fixture.Model).Generate("She was not", new GenerationOptions { MaxTokens = 200, StopAtEos = false },
            cancel.Token, token => { if (token.Index == 4) cancel.Cancel(); });
        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.Equal(5, result.GeneratedTokens);
    }

    [Fact]
    public void StopsAtTheContextLimit()
    {
        var result = new TextGenerator(fixture.Model).Generate("She was not", new GenerationOptions { MaxTokens = 1000, ContextLength = 16, StopAtEos = false });
        Assert.Equal(StopReason.ContextFull, result.StopReason);
        Assert.Equal(16 - result.PromptTokens + 1, result.GeneratedTokens);
    }

    [Fact]
    public void StreamedPiecesConcatenateToTheText()
    {
        var pieces = new List<GenerationPiece>();
        var result = new TextGenerator(fixture.Model).Generate("It is a truth", new GenerationOptions { MaxTokens = 40, Sampling = new SamplingOptions { Seed = 5 } },
            onPiece: t => pieces.Add(t));
        Assert.Equal(result.Text, string.Concat(pieces.Select(p => p.Text)));
        // One piece per token, in order, plus one at the end only if text was held back (without stop strings, only
        // an unfinished character can be).
        var perToken = pieces.Where(p => p.TokenId >= 0).ToArray();
        Assert.Equal(Enumerable.Range(0, result.GeneratedTokens), perToken.Select(p => p.Index));
        Assert.Equal(result.TokenIds, perToken.Select(p => p.TokenId));
        Assert.InRange(pieces.Count - perToken.Length, 0, 1);
    }

    [Fact]
    public void ZeroMaxTokensRunsOnlyThePrompt()
    {
        var result = new TextGenerator(fixture.Model).Generate("Mr. Darcy", new GenerationOptions { MaxTokens = 0 });
        Assert.Equal(0, result.GeneratedTokens);
        Assert.Equal("", result.Text);
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
    }
}
