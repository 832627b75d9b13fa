namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>
/// The GPT-2 byte-to-character table byte-level BPE vocabularies are written in: every UTF-8 byte becomes
/// one printable character, so that merges and vocabulary entries never hold spaces or control characters.
/// Printable Latin-1 bytes stand for themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) are
/// moved, in byte order, to U+0100 onwards (space becomes 'Ġ', newline 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Encode(byte value) => ByteToChar[value];

    public static bool TryDecode(char symbol, out byte value) => CharToByte.TryGetValue(symbol, out value);

    /// <summary>The byte-level form of a piece of text: its UTF-8 bytes, one character each.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        int byteCount = System.Text.Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = byteCount <= 256 ? stackalloc byte[256] : new byte[byteCount];
        Span<char> chars = byteCount <= 256 ? stackalloc char[256] : new char[byteCount];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        for (int i = 0; i < byteCount; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars[..byteCount]);
    }

    /// <summary>Appends the bytes a byte-level token stands for; a character outside the table is kept as its own UTF-8.</summary>
    public static void AppendBytes(string token, List<byte> output)
    {
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < token.Length; i++)
        {
            if (CharToByte.TryGetValue(token[i], out byte value))
            {
                output.Add(value);
                continue;
            }
            int length = char.IsHighSurrogate(token[i]) && i + 1 < token.Length && char.IsLowSurrogate(token[i + 1]) ? 2 : 1;
            int written = System.Text.Encoding.UTF8.GetBytes(token.AsSpan(i, length), utf8);
            for (int b = 0; b < written; b++) output.Add(utf8[b]);
            i += length - 1;
        }
    }

    private static bool StandsForItself(int value) =>
        value is >= '!' and <= '~' or >= '\u00A1' and <= '\u00AC' or >= '\u00AE' and <= '\u00FF';

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        int moved = 0;
        for (int value = 0; value < 256; value++)
            table[value] = StandsForItself(value) ? (char)value : (char)(256 + moved++);
        return table;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int value = 0; value < 256; value++) map[ByteToChar[value]] = (byte)value;
        return map;
    }
}
