using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;

namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>
/// Pre-tokenization: cuts text into words with one or more regular expressions, applied in turn to the
/// pieces the previous one left. Both matches and the text between them become words, so no character is
/// ever dropped (what Hugging Face calls the "Isolated" split behaviour).
/// </summary>
/// <remarks>
/// .NET regular expressions see UTF-16 code units, so a letter outside the Basic Multilingual Plane would
/// look like two surrogates and fall out of <c>\p{L}</c>. Where a piece holds surrogate pairs the
/// expression therefore runs over a stand-in string holding, for each such code point, a BMP character
/// of the same Unicode category, and the match positions are mapped back.
/// </remarks>
internal sealed class RegexWordSplitter
{
    /// <summary>
    /// Longest one match may take. The published expressions match a word in microseconds; an expression from a
    /// stranger's tokenizer.json that backtracks catastrophically could otherwise run for hours on one prompt.
    /// </summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(1);

    private static readonly ConcurrentDictionary<string, Regex> Compiled = new(StringComparer.Ordinal);
    private static readonly char[] CategoryStandIns = BuildCategoryStandIns();

    private readonly Regex[] _expressions;

    public RegexWordSplitter(IReadOnlyList<string> patterns)
    {
        if (patterns.Count == 0) throw new ArgumentException("At least one pattern is needed.", nameof(patterns));
        _expressions = [.. patterns.Select(p => Compiled.GetOrAdd(p, static pattern =>
            new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant, MatchTimeout)))];
    }

    /// <summary>Checks that a pattern parses; the message says why not.</summary>
    public static bool TryValidate(string pattern, out string? error)
    {
        try
        {
            _ = new Regex(pattern, RegexOptions.CultureInvariant);
            error = null;
            return true;
        }
        catch (ArgumentException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    /// <summary>Appends the words of <paramref name="text"/>[start, start + length) as (start, length) ranges.</summary>
    /// <exception cref="TokenizerTimeoutException">An expression took longer than <see cref="MatchTimeout"/> on one piece.</exception>
    public void Split(string text, int start, int length, List<(int Start, int Length)> words)
    {
        var current = new List<(int Start, int Length)> { (start, length) };
        var next = new List<(int Start, int Length)>();
        foreach (var expression in _expressions)
        {
            next.Clear();
            foreach (var (pieceStart, pieceLength) in current)
            {
                try
                {
                    SplitOne(expression, text, pieceStart, pieceLength, next);
                }
                catch (RegexMatchTimeoutException ex)
                {
                    throw new TokenizerTimeoutException(expression.ToString(), pieceLength, MatchTimeout, ex);
                }
            }
            (current, next) = (next, current);
        }
        words.AddRange(current);
    }

    private static void SplitOne(Regex expression, string text, int start, int length, List<(int, int)> output)
    {
        ReadOnlySpan<char> piece = text.AsSpan(start, length);
        int[]? offsets = null;
        if (piece.ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            offsets = new int[length + 1];
            piece = StandIn(piece, offsets);
        }
        int position = 0;
        foreach (var match in expression.EnumerateMatches(piece))
        {
            if (match.Length == 0) continue;
            int matchStart = Map(offsets, match.Index);
            int matchEnd = Map(offsets, match.Index + match.Length);
            if (matchStart > position) output.Add((start + position, matchStart - position));
            output.Add((start + matchStart, matchEnd - matchStart));
            position = matchEnd;
        }
        if (position < length) output.Add((start + position, length - position));
    }

    private static int Map(int[]? offsets, int index) => offsets is null ? index : offsets[index];

    /// <summary>One character per code point; <paramref name="offsets"/>[i] is where stand-in character i starts in the original.</summary>
    private static ReadOnlySpan<char> StandIn(ReadOnlySpan<char> piece, int[] offsets)
    {
        var chars = new char[piece.Length];
        int count = 0;
        for (int i = 0; i < piece.Length; i++)
        {
            offsets[count] = i;
            if (char.IsHighSurrogate(piece[i]) && i + 1 < piece.Length && char.IsLowSurrogate(piece[i + 1]))
            {
                int codePoint = char.ConvertToUtf32(piece[i], piece[i + 1]);
                chars[count++] = CategoryStandIns[(int)CharUnicodeInfo.GetUnicodeCategory(codePoint)];
                i++;
            }
            else
            {
                chars[count++] = piece[i];
            }
        }
        offsets[count] = piece.Length;
        return chars.AsSpan(0, count);
    }

    /// <summary>For each Unicode category, the first non-ASCII BMP character in it (ASCII is avoided because patterns name ASCII characters literally).</summary>
    private static char[] BuildCategoryStandIns()
    {
        var categories = Enum.GetValues<UnicodeCategory>();
        var table = new char[categories.Max(c => (int)c) + 1];
        foreach (var category in categories)
        {
            table[(int)category] = '\uFFFD';
            for (int c = 0x80; c <= 0xFFFF; c++)
            {
                if (c is >= 0xD800 and <= 0xDFFF) continue;
                if (CharUnicodeInfo.GetUnicodeCategory((char)c) == category)
                {
                    table[(int)category] = (char)c;
                    break;
                }
            }
        }
        return table;
    }
}
