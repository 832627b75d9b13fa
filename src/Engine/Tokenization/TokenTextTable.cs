using System.Text;

namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// What each token id adds to decoded text, as UTF-8 bytes, built once per tokenizer. Decoding a sequence is the
/// concatenation of its tokens' bytes read as UTF-8, with one exception: a SentencePiece tokenizer that adds a dummy
/// prefix drops the leading space of the first piece that is not a byte (<see cref="DropsFirstLeadingSpace"/>), and
/// its special tokens end an unfinished character (<see cref="SpecialTokensEndCharacters"/>).
/// Streaming decoding and output constraints read it per token instead of decoding whole sequences again.
/// </summary>
public sealed class TokenTextTable
{
    private readonly byte[] _bytes;
    private readonly int[] _offsets;
    private readonly bool[] _special;
    private readonly bool[] _leadingDummySpace;
    private readonly bool[] _bytePiece;
    private Dictionary<string, List<int>>? _idsByText;

    /// <param name="tokenBytes">Bytes of each id; null for an id that produces no text and does not count as text
    /// (control, unknown and unused tokens, unassigned ids).</param>
    /// <param name="leadingDummySpace">Per id, whether its first byte is a space that stands for the dummy prefix
    /// (a SentencePiece "▁"); may be null when the tokenizer never drops one.</param>
    /// <param name="dropsFirstLeadingSpace">Whether decoding drops that space on the first piece that is not a byte piece.</param>
    /// <param name="bytePieces">Per id, whether it is a byte piece (&lt;0xAB&gt;); may be null when there are none.</param>
    /// <param name="specialTokensEndCharacters">Whether a special id of the vocabulary between byte pieces ends the
    /// character they were spelling (its bytes then read as U+FFFD), as SentencePiece decoding does.</param>
    public TokenTextTable(IReadOnlyList<byte[]?> tokenBytes, IReadOnlyList<bool>? leadingDummySpace, bool dropsFirstLeadingSpace,
        IReadOnlyList<bool>? bytePieces = null, bool specialTokensEndCharacters = false)
    {
        SpecialTokensEndCharacters = specialTokensEndCharacters;
        int count = tokenBytes.Count;
        _offsets = new int[count + 1];
        _special = new bool[count];
        _leadingDummySpace = new bool[count];
        _bytePiece = new bool[count];
        int total = 0;
        for (int id = 0; id < count; id++)
        {
            total += tokenBytes[id]?.Length ?? 0;
            _special[id] = tokenBytes[id] is null;
            _leadingDummySpace[id] = dropsFirstLeadingSpace && leadingDummySpace is not null && leadingDummySpace[id];
            _bytePiece[id] = bytePieces is not null && bytePieces[id];
            MaxTokenBytes = Math.Max(MaxTokenBytes, tokenBytes[id]?.Length ?? 0);
        }
        _bytes = new byte[total];
        int offset = 0;
        for (int id = 0; id < count; id++)
        {
            _offsets[id] = offset;
            if (tokenBytes[id] is { } bytes)
            {
                bytes.CopyTo(_bytes, offset);
                offset += bytes.Length;
            }
        }
        _offsets[count] = offset;
        DropsFirstLeadingSpace = dropsFirstLeadingSpace;
    }

    public int Count => _special.Length;

    /// <summary>The longest byte sequence any one token adds.</summary>
    public int MaxTokenBytes { get; }

    /// <summary>Whether the first token that produces text loses a leading dummy-prefix space when decoded.</summary>
    public bool DropsFirstLeadingSpace { get; }

    /// <summary>Whether a special id of the vocabulary (not one outside it) ends an unfinished character.</summary>
    public bool SpecialTokensEndCharacters { get; }

    /// <summary>Whether the id is a special token that ends an unfinished character before it.</summary>
    public bool EndsCharacter(int id) => SpecialTokensEndCharacters && (uint)id < (uint)_special.Length && _special[id];

    /// <summary>The bytes the id adds to text (empty for special ids and ids outside the vocabulary).</summary>
    public ReadOnlySpan<byte> Bytes(int id) =>
        (uint)id < (uint)_special.Length ? _bytes.AsSpan(_offsets[id], _offsets[id + 1] - _offsets[id]) : default;

    /// <summary>Whether the id produces no text and is skipped by decoding (BOS, EOS, unknown, ids outside the vocabulary).</summary>
    public bool IsSpecial(int id) => (uint)id >= (uint)_special.Length || _special[id];

    /// <summary>Whether the id is a byte piece (&lt;0xAB&gt;), which does not count as the first piece for the dummy prefix.</summary>
    public bool IsBytePiece(int id) => (uint)id < (uint)_special.Length && _bytePiece[id];

    /// <summary>Whether the id starts with a dummy-prefix space that decoding drops when it is the first piece.</summary>
    public bool HasLeadingDummySpace(int id) => (uint)id < (uint)_special.Length && _leadingDummySpace[id];

    /// <summary>The text of one token on its own, as it reads inside a longer text (bytes that are not whole
    /// characters read as U+FFFD).</summary>
    public string Text(int id) => Encoding.UTF8.GetString(Bytes(id));

    /// <summary>Every id whose text (inside a longer text) is exactly <paramref name="text"/>; empty when none is.</summary>
    public IReadOnlyList<int> IdsWithText(string text)
    {
        var index = _idsByText ??= BuildIdsByText();
        return index.TryGetValue(text, out var ids) ? ids : [];
    }

    private Dictionary<string, List<int>> BuildIdsByText()
    {
        // Built on first use (logit biases given as text); a race builds it twice, harmlessly.
        var index = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        for (int id = 0; id < Count; id++)
        {
            if (IsSpecial(id) || Bytes(id).IsEmpty) continue;
            string text;
            try { text = strict.GetString(Bytes(id)); }
            catch (DecoderFallbackException) { continue; } // part of a character: no text of its own
            if (!index.TryGetValue(text, out var ids)) index[text] = ids = [];
            ids.Add(id);
        }
        return index;
    }
}
