namespace LlmCpu.Engine;

/// <summary>
/// A tokenizer's pre-tokenization expression (from a tokenizer.json or a GGUF's recipe) took longer than its limit on
/// one piece of text: the expression backtracks catastrophically on that input. Raised instead of running for minutes.
/// </summary>
public sealed class TokenizerTimeoutException(string pattern, int pieceLength, TimeSpan limit, Exception? inner = null)
    : Exception($"The tokenizer's pre-tokenization expression took more than {limit.TotalSeconds:0.#} s on a piece of {pieceLength:N0} characters " +
                $"(it backtracks catastrophically on this text): {Shorten(pattern)}", inner)
{
    public string Pattern { get; } = pattern;

    public int PieceLength { get; } = pieceLength;

    private static string Shorten(string pattern) => pattern.Length > 120 ? pattern[..120] + "…" : pattern;
}
