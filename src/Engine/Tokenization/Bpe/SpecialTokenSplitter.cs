namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>A vocabulary entry matched literally in the input before any pre-tokenization.</summary>
/// <param name="Text">The literal text.</param>
/// <param name="Id">Its token id.</param>
/// <param name="IsControl">Control (and unknown) tokens are matched only when the caller asks for special tokens; user-defined ones always are.</param>
/// <param name="StripLeft">Whitespace just before a match is dropped (Hugging Face's <c>lstrip</c>).</param>
/// <param name="StripRight">Whitespace just after a match is dropped (<c>rstrip</c>).</param>
internal sealed record SpecialToken(string Text, int Id, bool IsControl, bool StripLeft = false, bool StripRight = false);

/// <summary>A stretch of the input: plain text to pre-tokenize, or one special token.</summary>
internal readonly record struct TextPiece(int Start, int Length, int SpecialId)
{
    public const int PlainText = -1;

    public bool IsSpecial => SpecialId != PlainText;
}

/// <summary>
/// Cuts the input at literal occurrences of special tokens. Longer tokens are looked for first, and each
/// token only in text no longer token claimed, so "&lt;|im_start|&gt;" wins over any shorter token inside it.
/// </summary>
internal sealed class SpecialTokenSplitter
{
    private readonly SpecialToken[] _tokens;

    public SpecialTokenSplitter(IEnumerable<SpecialToken> tokens)
    {
        // Stable order: longest first, then by id, so the result does not depend on the input's order.
        _tokens = [.. tokens.Where(t => t.Text.Length > 0).OrderByDescending(t => t.Text.Length).ThenBy(t => t.Id)];
    }

    public List<TextPiece> Split(string text, bool matchControl)
    {
        var pieces = new List<TextPiece> { new(0, text.Length, TextPiece.PlainText) };
        if (text.Length == 0) return pieces;
        foreach (var token in _tokens)
        {
            if (token.IsControl && !matchControl) continue;
            // Cheap rejection: most tokens never occur in a given input.
            if (!text.Contains(token.Text, StringComparison.Ordinal)) continue;
            pieces = SplitAt(text, pieces, token);
        }
        pieces.RemoveAll(p => !p.IsSpecial && p.Length == 0);
        return pieces;
    }

    private static List<TextPiece> SplitAt(string text, List<TextPiece> pieces, SpecialToken token)
    {
        var result = new List<TextPiece>(pieces.Count + 2);
        foreach (var piece in pieces)
        {
            if (piece.IsSpecial)
            {
                result.Add(piece);
                continue;
            }
            int start = piece.Start;
            int end = piece.Start + piece.Length;
            while (start < end)
            {
                int match = text.IndexOf(token.Text, start, end - start, StringComparison.Ordinal);
                if (match < 0) break;
                int leftEnd = match;
                if (token.StripLeft)
                    while (leftEnd > start && char.IsWhiteSpace(text[leftEnd - 1])) leftEnd--;
                result.Add(new TextPiece(start, leftEnd - start, TextPiece.PlainText));
                result.Add(new TextPiece(match, token.Text.Length, token.Id));
                start = match + token.Text.Length;
                if (token.StripRight)
                    while (start < end && char.IsWhiteSpace(text[start])) start++;
            }
            result.Add(new TextPiece(start, end - start, TextPiece.PlainText));
        }
        return result;
    }
}
