namespace LlmCpu.Engine.Tokenization;

/// <summary>Where UTF-8 text can be cut so that decoding the two parts apart equals decoding them together.</summary>
internal static class Utf8Tail
{
    /// <summary>
    /// The length of the character <paramref name="bytes"/> ends in the middle of: a lead byte and the continuation
    /// bytes seen so far, each allowed where it stands (so more bytes could still complete a valid character). 0 when
    /// the bytes end on a character boundary or in a sequence no further byte can make valid; such a sequence decodes
    /// to U+FFFD now exactly as it would with more bytes after it (.NET replaces each maximal invalid subpart).
    /// </summary>
    public static int IncompleteLength(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        for (int back = 1; back <= 3 && back <= n; back++)
        {
            byte b = bytes[n - back];
            if (b is >= 0x80 and <= 0xBF) continue; // continuation byte: the lead is further back
            int needed = b switch
            {
                >= 0xC2 and <= 0xDF => 2,
                >= 0xE0 and <= 0xEF => 3,
                >= 0xF0 and <= 0xF4 => 4,
                _ => 0, // ASCII, or a byte that never starts a character
            };
            if (needed <= back) return 0; // complete (or not a lead at all)
            // The second byte of some leads has a narrower range (no overlong forms, surrogates or values past U+10FFFF).
            if (back >= 2)
            {
                byte second = bytes[n - back + 1];
                bool allowed = b switch
                {
                    0xE0 => second >= 0xA0,
                    0xED => second <= 0x9F,
                    0xF0 => second >= 0x90,
                    0xF4 => second <= 0x8F,
                    _ => true,
                };
                if (!allowed) return 0;
            }
            return back;
        }
        return 0;
    }
}
