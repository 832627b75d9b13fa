using LlmCpu.Engine.Tokenization.Bpe;

namespace LlmCpu.Tests.Engine.Tokenization;

public sealed class RegexWordSplitterTests
{
    private static string[] Words(RegexWordSplitter splitter, string text)
    {
        var ranges = new List<(int Start, int Length)>();
        splitter.Split(text, 0, text.Length, ranges);
        return [.. ranges.Select(r => text.Substring(r.Start, r.Length))];
    }

    [Fact]
    public void TextBetweenMatches_BecomesWordsToo()
    {
        // GGUF's GPT-2 expression has no trailing \s+, so the tab before "a" is matched by nothing; it must not be lost.
        var splitter = new RegexWordSplitter([PreTokenizerCatalog.Gpt2]);

        Assert.Equal(["x", "\t", "a", "  ", " b"], Words(splitter, "x\ta   b"));
    }

    [Fact]
    public void LettersOutsideTheBasicPlane_CountAsLetters()
    {
        // U+1D518 (a Fraktur capital) is a letter; seen as two surrogates it would split the word in three.
        var splitter = new RegexWordSplitter([PreTokenizerCatalog.Llama3]);

        Assert.Equal(["a\U0001D518b", " c"], Words(splitter, "a\U0001D518b c"));
    }

    [Fact]
    public void DigitsOutsideTheBasicPlane_CountAsDigits()
    {
        // U+1D7D9 and U+1D7DA are double-struck digits; Qwen2 makes each digit a word of its own.
        var splitter = new RegexWordSplitter([PreTokenizerCatalog.Qwen2]);

        Assert.Equal(["\U0001D7D9", "\U0001D7DA", "x"], Words(splitter, "\U0001D7D9\U0001D7DAx"));
    }

    [Fact]
    public void Emoji_JoinTheRunOfOtherSymbols()
    {
        var splitter = new RegexWordSplitter([PreTokenizerCatalog.Llama3]);

        Assert.Equal(["Hi", " \U0001F999\U0001F999!"], Words(splitter, "Hi \U0001F999\U0001F999!"));
    }

    [Fact]
    public void SeveralPatterns_ApplyInTurnToEachPiece()
    {
        var splitter = new RegexWordSplitter(PreTokenizerCatalog.DigitsThenGpt2);

        Assert.Equal(["abc", " ", "1", "2", "3", "x"], Words(splitter, "abc 123x"));
    }
}
