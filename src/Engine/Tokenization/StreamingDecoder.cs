using System.Text;

namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// Turns generated ids into text one token at a time, in time proportional to the token, not to the text so far.
/// The text equals decoding prompt and answer together and cutting off the prompt's text: each token's bytes come
/// from the tokenizer's <see cref="TokenTextTable"/>, the bytes of a character cut between tokens (byte-fallback
/// pieces) wait until the tokens that complete it arrive, and the dummy-prefix space is dropped only where whole-text
/// decoding drops it (on the first piece that is not a byte piece, if the prompt had none).
/// </summary>
public sealed class StreamingDecoder
{
    private const int MaxPendingBytes = 3; // the longest unfinished UTF-8 character

    private readonly TokenTextTable _table;
    private readonly byte[] _scratch;
    private int _pendingBytes;
    private char[] _text;
    private int _length;
    private bool _seenPiece;

    public StreamingDecoder(TextTokenizer tokenizer, IReadOnlyList<int> promptIds, int expectedTokens)
    {
        _table = tokenizer.TokenTable;
        _scratch = new byte[MaxPendingBytes + _table.MaxTokenBytes];
        // Room for a typical answer (a few characters a token) so that appending rarely grows the buffer.
        _text = new char[Math.Clamp(expectedTokens, 16, 1 << 20) * 4];
        foreach (int id in promptIds)
            if (!_table.IsSpecial(id) && !_table.IsBytePiece(id)) { _seenPiece = true; break; }
    }

    /// <summary>Adds a token; returns the text it completes (allocates a string: for listeners, not hot loops).</summary>
    public string Append(int id)
    {
        int before = _length;
        AppendToken(id);
        return new string(_text, before, _length - before);
    }

    /// <summary>Adds a token without allocating; returns how many characters it completed at the end of <see cref="Completed"/>.</summary>
    public int AppendToken(int id)
    {
        if (_table.IsSpecial(id)) return _table.EndsCharacter(id) ? Flush() : 0;
        var bytes = _table.Bytes(id);
        if (!_seenPiece && !_table.IsBytePiece(id))
        {
            _seenPiece = true;
            if (_table.HasLeadingDummySpace(id)) bytes = bytes[1..];
        }
        bytes.CopyTo(_scratch.AsSpan(_pendingBytes));
        int total = _pendingBytes + bytes.Length;
        var available = _scratch.AsSpan(0, total);
        int keep = Utf8Tail.IncompleteLength(available);
        var ready = available[..(total - keep)];
        int added = 0;
        if (!ready.IsEmpty)
        {
            EnsureRoom(ready.Length); // UTF-8 never decodes to more UTF-16 units than it has bytes
            added = Encoding.UTF8.GetChars(ready, _text.AsSpan(_length));
            _length += added;
        }
        // The unfinished character's bytes move to the front, to be completed by the next token.
        available[(total - keep)..].CopyTo(_scratch);
        _pendingBytes = keep;
        return added;
    }

    /// <summary>Decodes the bytes of an unfinished character as they are (U+FFFD).</summary>
    private int Flush()
    {
        if (_pendingBytes == 0) return 0;
        EnsureRoom(_pendingBytes);
        int added = Encoding.UTF8.GetChars(_scratch.AsSpan(0, _pendingBytes), _text.AsSpan(_length));
        _length += added;
        _pendingBytes = 0;
        return added;
    }

    /// <summary>Adds tokens without producing their text piece by piece.</summary>
    public void AppendRange(IEnumerable<int> ids)
    {
        foreach (int id in ids) AppendToken(id);
    }

    /// <summary>The whole characters decoded so far (bytes of an unfinished character are not in it yet).</summary>
    public ReadOnlySpan<char> Completed => _text.AsSpan(0, _length);

    /// <summary>Whether bytes of an unfinished character are waiting for the tokens that complete it.</summary>
    public bool HasPendingBytes => _pendingBytes > 0;

    /// <summary>The whole answer so far, as one-shot decoding gives it: an unfinished character at the end reads as U+FFFD.</summary>
    public string Text => _pendingBytes == 0
        ? new string(Completed)
        : string.Concat(Completed, Encoding.UTF8.GetString(_scratch, 0, _pendingBytes));

    private void EnsureRoom(int extra)
    {
        if (_length + extra <= _text.Length) return;
        Array.Resize(ref _text, Math.Max(_text.Length * 2, _length + extra));
    }
}
