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
        var pieces = new List<string>();
        var result = new TextGenerator(fixture.Model).Generate("It is a truth", new GenerationOptions { MaxTokens = 40, Sampling = new SamplingOptions { Seed = 5 } },
            onToken: t => pieces.Add(t.Text));
        Assert.Equal(result.Text, string.Concat(pieces));
        Assert.Equal(result.GeneratedTokens, pieces.Count);
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
