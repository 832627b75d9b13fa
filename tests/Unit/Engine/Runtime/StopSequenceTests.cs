using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// Stop strings on the fixture model: matched across token boundaries, left out of the text, and never shown in the
/// streamed pieces, not even their first characters, beyond what the result finally holds.
/// </summary>
public sealed class StopSequenceTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private const string Prompt = "It is a truth universally acknowledged";

    private (GenerationResult Result, List<GenerationPiece> Pieces) Generate(GenerationOptions options)
    {
        var pieces = new List<GenerationPiece>();
        var result = new TextGenerator(fixture.Model).Generate(Prompt, options, onPiece: pieces.Add);
        Assert.Equal(result.Text, string.Concat(pieces.Select(p => p.Text)));
        return (result, pieces);
    }

    private static GenerationOptions Greedy(int maxTokens, params string[] stops) =>
        new() { MaxTokens = maxTokens, StopAtEos = false, Sampling = SamplingOptions.Greedy, StopSequences = stops };

    [Fact]
    public void AStopStringAcrossTokensEndsTheTextBeforeIt()
    {
        var (free, pieces) = Generate(Greedy(48));
        // Two characters either side of a boundary between tokens that both have text.
        int k = Enumerable.Range(5, pieces.Count - 6).First(i => pieces[i].Text.Length >= 2 && pieces[i + 1].Text.Length >= 2);
        string stop = pieces[k].Text[^2..] + pieces[k + 1].Text[..2];
        int at = free.Text.IndexOf(stop, StringComparison.Ordinal);

        var (stopped, streamed) = Generate(Greedy(48, stop));
        Assert.Equal(StopReason.StopSequence, stopped.StopReason);
        Assert.Equal(stop, stopped.StopSequence);
        Assert.Equal(free.Text[..at], stopped.Text);
        Assert.Equal(free.TokenIds.Take(stopped.GeneratedTokens), stopped.TokenIds);
        // The token that completed the stop string is the last one generated.
        int completedAt = Enumerable.Range(0, pieces.Count).First(i => string.Concat(pieces.Take(i + 1).Select(p => p.Text)).Contains(stop));
        Assert.Equal(completedAt + 1, stopped.GeneratedTokens);
        Assert.DoesNotContain(streamed, p => p.TokenId < 0);
    }

    [Fact]
    public void TheEarliestOfSeveralStopStringsWins()
    {
        var (free, _) = Generate(Greedy(48));
        string early = free.Text.Substring(10, 3), late = free.Text.Substring(30, 4);
        var (stopped, _) = Generate(Greedy(48, late, early));
        Assert.Equal(early, stopped.StopSequence);
        Assert.Equal(free.Text[..free.Text.IndexOf(early, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public void TextThatMightBeginAStopStringWaitsAndIsReleasedAtTheEnd()
    {
        var (free, _) = Generate(Greedy(40));
        string tail = free.Text[^3..];
        // The answer ends with the stop string's first three characters, but its fourth never comes.
        var (result, pieces) = Generate(Greedy(40, tail + "\u0001"));
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Equal(free.Text, result.Text);
        var last = pieces[^1];
        Assert.Equal(-1, last.TokenId);
        Assert.Equal(40, last.Index);
        Assert.EndsWith(tail, last.Text, StringComparison.Ordinal);
        Assert.Null(result.StopSequence);
    }

    [Fact]
    public void StreamedTextNeverRunsAheadOfTheResult()
    {
        // Sampled answers with stop strings taken from them: at every piece, what was streamed is a prefix of the
        // final text, which contains no stop string.
        for (int seed = 1; seed <= 8; seed++)
        {
            var sampling = new SamplingOptions { Seed = seed, Temperature = 1 };
            var (free, _) = Generate(new GenerationOptions { MaxTokens = 40, StopAtEos = false, Sampling = sampling });
            string[] stops = [free.Text.Substring(free.Text.Length / 2, 2), "zzz", free.Text[^1..] + "?!"];
            var (result, pieces) = Generate(new GenerationOptions { MaxTokens = 40, StopAtEos = false, Sampling = sampling, StopSequences = stops });
            string streamed = "";
            foreach (var piece in pieces)
            {
                streamed += piece.Text;
                Assert.StartsWith(streamed, result.Text, StringComparison.Ordinal);
            }
            Assert.All(stops, s => Assert.DoesNotContain(s, result.Text, StringComparison.Ordinal));
            Assert.Equal(StopReason.StopSequence, result.StopReason);
        }
    }

    [Fact]
    public void AnEmptyStopStringIsRefused()
    {
        var error = Assert.Throws<GenerationArgumentException>(() => Generate(Greedy(4, "")));
        Assert.Equal("Stop", error.ParamName);
    }
}
