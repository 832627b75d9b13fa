namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Finds stop strings in generated text as it grows, across token boundaries, and says how much of the text is safe to
/// show: everything except a tail that could still turn into a stop string. Nothing of a stop string, not even its
/// first characters, is released before it is known not to be one.
/// </summary>
internal sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly int _longest;

    public StopSequenceMatcher(IReadOnlyList<string> stops)
    {
        _stops = [.. stops];
        _longest = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    public bool IsEmpty => _stops.Length == 0;

    /// <summary>
    /// The earliest stop string in <paramref name="text"/> that ends after position <paramref name="searchedUpTo"/>
    /// (the text before it was searched already): its start and which string it is, or (-1, null).
    /// </summary>
    public (int Start, string? Stop) Find(ReadOnlySpan<char> text, int searchedUpTo)
    {
        int from = Math.Max(0, searchedUpTo - _longest + 1);
        int bestStart = -1;
        string? best = null;
        foreach (string stop in _stops)
        {
            int at = text[from..].IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at < 0) continue;
            at += from;
            if (bestStart < 0 || at < bestStart) { bestStart = at; best = stop; }
        }
        return (bestStart, best);
    }

    /// <summary>The length of the longest end of <paramref name="text"/> that is the beginning of a stop string (and must wait).</summary>
    public int HeldBack(ReadOnlySpan<char> text)
    {
        int held = 0;
        foreach (string stop in _stops)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > held; length--)
            {
                if (text.EndsWith(stop.AsSpan(0, length), StringComparison.Ordinal)) { held = length; break; }
            }
        }
        return held;
    }
}
