using System.Text;

namespace LlmCpu.Engine.Tokenization;

/// <summary>
/// SentencePiece's BPE segmentation of a model whose normalizer only escapes spaces (Llama's "identity"): the text,
/// spaces written as U+2581, starts as one symbol per character (a user-defined piece matched at a position is one
/// symbol that never merges), then the adjacent pair whose joined text is a piece of the highest score is merged,
/// again and again; <b>between pairs of equal score the leftmost is merged first</b>, as SentencePiece's
/// <c>bpe_model.cc</c> and llama.cpp's SPM tokenizer order their queues. Microsoft.ML.Tokenizers 2.0.1 orders equal
/// scores the other way and merges the rightmost pair first, which is why this class exists: a run of eleven spaces
/// after a word is ▁▁▁▁▁▁▁▁ ▁▁ ▁ here and in SentencePiece, but ▁▁ ▁▁▁▁▁▁▁▁ ▁ there. Every "▁▁" pair of a run (and
/// every pair of a repeated character, "!!") has the same score, so whitespace runs and repeated punctuation are where
/// the order shows.
/// A symbol that ends as an unused piece is split back into the two symbols it was merged from; one that is no piece
/// becomes its UTF-8 bytes' byte pieces with byte fallback, else the unknown piece (a run of unknown symbols one).
/// </summary>
internal sealed class SentencePieceBpeEncoder
{
    private const char SpaceMarker = '\u2581';

    private readonly Dictionary<string, int> _pieces = new(StringComparer.Ordinal); // normal, user-defined and unused pieces
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly Dictionary<char, string[]> _userDefined = [];                   // by first character, longest first
    private readonly IReadOnlyList<SentencePieceEntry> _entries;
    private readonly int[]? _byteIds;                                                // byte value -> its byte piece
    private readonly int _unknownId;
    private readonly bool _removeExtraWhitespaces;

    public SentencePieceBpeEncoder(SentencePieceVocabulary vocabulary)
    {
        _entries = vocabulary.Pieces;
        _unknownId = vocabulary.UnknownId;
        _removeExtraWhitespaces = vocabulary.RemoveExtraWhitespaces;
        var userDefined = new List<string>();
        int[] byteIds = new int[256];
        int bytesFound = 0;
        for (int id = 0; id < _entries.Count; id++)
        {
            var (piece, _, type) = _entries[id];
            if (piece.Length == 0) continue;
            switch (type)
            {
                // Control and unknown pieces are never produced from text; byte pieces only by byte fallback.
                case SentencePieceType.Normal or SentencePieceType.Unused:
                    _pieces.TryAdd(piece, id);
                    break;
                case SentencePieceType.UserDefined:
                    _pieces.TryAdd(piece, id);
                    userDefined.Add(piece);
                    break;
                case SentencePieceType.Byte when piece.Length == 6 && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte value):
                    byteIds[value] = id;
                    bytesFound++;
                    break;
            }
        }
        _lookup = _pieces.GetAlternateLookup<ReadOnlySpan<char>>();
        _byteIds = vocabulary.ByteFallback && bytesFound == 256 ? byteIds : null;
        foreach (var group in userDefined.GroupBy(p => p[0]))
            _userDefined[group.Key] = [.. group.OrderByDescending(p => p.Length)];
    }

    /// <summary>Whether this class segments <paramref name="vocabulary"/>'s model as SentencePiece does (a BPE model that normalizes only spaces).</summary>
    public static bool Supports(SentencePieceVocabulary vocabulary) => vocabulary.IsBpe && vocabulary.NormalizesOnlySpaces;

    /// <summary>The ids of <paramref name="text"/>; <paramref name="addDummyPrefix"/> puts a space before it first.</summary>
    public int[] Encode(string text, bool addDummyPrefix)
    {
        string normalized = Normalize(text, addDummyPrefix);
        if (normalized.Length == 0) return [];
        var symbols = Split(normalized);
        var merges = new Merges(this, normalized, symbols);
        merges.Run();

        var ids = new List<int>(symbols.Count);
        for (int index = 0; index >= 0; index = symbols[index].Next)
            Emit(normalized, symbols[index].Start, symbols[index].Length, merges.Unmerged, ids);
        return [.. ids];
    }

    /// <summary>SentencePiece's normalization with an identity rule set: optional removal of extra spaces, the dummy prefix, spaces as U+2581.</summary>
    private string Normalize(string text, bool addDummyPrefix)
    {
        if (_removeExtraWhitespaces)
        {
            var kept = new StringBuilder(text.Length);
            foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (kept.Length > 0) kept.Append(' ');
                kept.Append(word);
            }
            text = kept.ToString();
        }
        if (text.Length == 0) return "";
        return ((addDummyPrefix ? " " : "") + text).Replace(' ', SpaceMarker);
    }

    /// <summary>One symbol per character (a surrogate pair is one), or per user-defined piece found at a position, longest first.</summary>
    private List<Symbol> Split(string text)
    {
        var symbols = new List<Symbol>(text.Length);
        for (int start = 0; start < text.Length;)
        {
            int length = char.IsHighSurrogate(text[start]) && start + 1 < text.Length && char.IsLowSurrogate(text[start + 1]) ? 2 : 1;
            bool frozen = false;
            if (_userDefined.TryGetValue(text[start], out var candidates))
            {
                foreach (string piece in candidates)
                {
                    if (start + piece.Length > text.Length || string.CompareOrdinal(text, start, piece, 0, piece.Length) != 0) continue;
                    length = piece.Length;
                    frozen = true;
                    break;
                }
            }
            int index = symbols.Count;
            symbols.Add(new Symbol(start, length, index - 1, start + length < text.Length ? index + 1 : -1, frozen));
            start += length;
        }
        return symbols;
    }

    /// <summary>Adds the ids of one final symbol: its piece, the two symbols an unused piece was merged from, its bytes, or unknown.</summary>
    private void Emit(string text, int start, int length, Dictionary<string, int> unmerged, List<int> ids)
    {
        if (_lookup.TryGetValue(text.AsSpan(start, length), out int id))
        {
            if (_entries[id].Type == SentencePieceType.Unused && unmerged.TryGetValue(text.Substring(start, length), out int leftLength))
            {
                Emit(text, start, leftLength, unmerged, ids);
                Emit(text, start + leftLength, length - leftLength, unmerged, ids);
                return;
            }
            ids.Add(id);
            return;
        }
        if (_byteIds != null)
        {
            // The bytes of the normalized text: a space is U+2581's three bytes, as in SentencePiece.
            Span<byte> bytes = stackalloc byte[Encoding.UTF8.GetMaxByteCount(2)];
            for (int i = start; i < start + length; i++)
            {
                int width = char.IsSurrogatePair(text, i) ? 2 : 1;
                foreach (byte b in bytes[..Encoding.UTF8.GetBytes(text.AsSpan(i, Math.Min(width, start + length - i)), bytes)]) ids.Add(_byteIds[b]);
                i += width - 1;
            }
            return;
        }
        // SentencePiece joins a run of unknown symbols into one unknown piece.
        if (ids.Count == 0 || ids[^1] != _unknownId) ids.Add(_unknownId);
    }

    private record struct Symbol(int Start, int Length, int Prev, int Next, bool Frozen);

    /// <summary>A candidate merge: the pair (Left, Right) whose joined text of <see cref="Length"/> characters is a piece.</summary>
    private readonly record struct Pair(int Left, int Right, int Length);

    /// <summary>Higher score first; between equal scores the pair further left.</summary>
    private sealed class PairOrder : IComparer<(float Score, int Left)>
    {
        public static readonly PairOrder Instance = new();

        public int Compare((float Score, int Left) x, (float Score, int Left) y)
        {
            int byScore = y.Score.CompareTo(x.Score);
            return byScore != 0 ? byScore : x.Left.CompareTo(y.Left);
        }
    }

    /// <summary>The merging of one text's symbols, with the queue of candidate pairs.</summary>
    private readonly struct Merges(SentencePieceBpeEncoder encoder, string text, List<Symbol> symbols)
    {
        private readonly PriorityQueue<Pair, (float Score, int Left)> _queue = new(PairOrder.Instance);

        /// <summary>
        /// For each unused piece a merge produced: the length of the left part it was last made from, to split it back
        /// (kept by text, as SentencePiece keeps it).
        /// </summary>
        public Dictionary<string, int> Unmerged { get; } = new(StringComparer.Ordinal);

        public void Run()
        {
            for (int i = 1; i < symbols.Count; i++) Consider(i - 1, i);
            while (_queue.TryDequeue(out var pair, out _))
            {
                var left = symbols[pair.Left];
                var right = symbols[pair.Right];
                // A pair queued before one of its symbols merged elsewhere is stale: its lengths no longer add up.
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != pair.Length) continue;
                symbols[pair.Left] = left with { Length = pair.Length, Next = right.Next };
                symbols[pair.Right] = right with { Length = 0 };
                if (right.Next >= 0) symbols[right.Next] = symbols[right.Next] with { Prev = pair.Left };
                Consider(left.Prev, pair.Left);
                Consider(pair.Left, right.Next);
            }
        }

        private void Consider(int left, int right)
        {
            if (left < 0 || right < 0) return;
            var a = symbols[left];
            var b = symbols[right];
            if (a.Frozen || b.Frozen) return;
            int length = a.Length + b.Length;
            if (!encoder._lookup.TryGetValue(text.AsSpan(a.Start, length), out int id)) return;
            _queue.Enqueue(new Pair(left, right, length), (encoder._entries[id].Score, a.Start));
            if (encoder._entries[id].Type == SentencePieceType.Unused) Unmerged[text.Substring(a.Start, length)] = a.Length;
        }
    }
}
