using System.Diagnostics;
using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Engine.Tokenization.Bpe;
using LlmCpu.Tests.Support;
using LlmCpu.Tests.Support.Hostile;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// A tokenizer.json's pre-tokenization expression is a stranger's code: one that backtracks catastrophically must end
/// at the match time limit with <see cref="TokenizerTimeoutException"/> (ErrorId TokenizerTimeout), not run for hours.
/// The published expressions stay far inside the limit on a megabyte of text.
/// </summary>
public sealed class PreTokenizerTimeoutTests
{
    private const string Catastrophic = BacktrackingTokenizerModel.Pattern;

    private static readonly string Trap = BacktrackingTokenizerModel.Trap;

    [Fact]
    public void ACatastrophicExpressionEndsAtTheLimit()
    {
        var splitter = new RegexWordSplitter([Catastrophic]);
        var clock = Stopwatch.StartNew();
        var ex = Assert.Throws<TokenizerTimeoutException>(() => splitter.Split(Trap, 0, Trap.Length, []));
        Assert.True(clock.Elapsed < RegexWordSplitter.MatchTimeout * 10, $"took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(Catastrophic, ex.Pattern);
        Assert.Equal(Trap.Length, ex.PieceLength);
        Assert.IsType<System.Text.RegularExpressions.RegexMatchTimeoutException>(ex.InnerException);
    }

    [Fact]
    public void ThePublishedExpressionsSplitAMegabyteWithinTheLimit()
    {
        var text = string.Concat(Enumerable.Repeat("It is a truth universally acknowledged, 1234567 times; \t\n  émigré \U0001F999! ", 1 << 20 / 80));
        foreach (var patterns in new[] { [PreTokenizerCatalog.Gpt2], [PreTokenizerCatalog.Llama3], [PreTokenizerCatalog.Qwen2], PreTokenizerCatalog.DigitsThenGpt2 })
        {
            var words = new List<(int Start, int Length)>();
            new RegexWordSplitter(patterns).Split(text, 0, text.Length, words);
            Assert.Equal(text.Length, words.Sum(w => w.Length));
        }
    }

    [Fact]
    public void AModelWhoseTokenizerBacktracksFailsToGenerateWithTheTimeout()
    {
        string path = BacktrackingTokenizerModel.Write();
        try
        {
            using var model = ModelLoader.Load(path);
            Assert.Throws<TokenizerTimeoutException>(() => model.Tokenizer.Encode(Trap, addBos: true));
        }
        finally
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
