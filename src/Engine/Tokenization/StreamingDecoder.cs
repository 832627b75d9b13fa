namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// Turns generated ids into text piece by piece. Decodes prompt and answer together and hands out the
/// new suffix, so leading spaces are right, and holds back a trailing partial UTF-8 character (shown by
/// the decoder as U+FFFD) until the byte tokens that complete it arrive.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly TextTokenizer _tokenizer;
    private readonly List<int> _ids;
    private readonly int _promptLength;
    private readonly int _promptTextLength;
    private int _emitted;

    public StreamingDecoder(TextTokenizer tokenizer, IReadOnlyList<int> promptIds, int expectedTokens)
    {
        _tokenizer = tokenizer;
        _ids = new List<int>(promptIds.Count + expectedTokens);
        _ids.AddRange(promptIds);
        _promptLength = promptIds.Count;
        _promptTextLength = tokenizer.Decode(_ids).Length;
        _emitted = _promptTextLength;
    }

    /// <summary>Adds a token; returns the text it completes.</summary>
    public string Append(int id)
    {
        _ids.Add(id);
        string full = _tokenizer.Decode(_ids);
        if (full.Length > 0 && full[^1] == '\uFFFD') return "";
        if (full.Length <= _emitted) return "";
        string piece = full[_emitted..];
        _emitted = full.Length;
        return piece;
    }

    /// <summary>Adds tokens without producing their text piece by piece.</summary>
    public void AppendRange(IEnumerable<int> ids) => _ids.AddRange(ids);

    /// <summary>The whole answer so far.</summary>
    public string Text
    {
        get
        {
            string full = _tokenizer.Decode(_ids);
            return full.Length > _promptTextLength ? full[_promptTextLength..] : "";
        }
    }

    public int GeneratedCount => _ids.Count - _promptLength;
}
