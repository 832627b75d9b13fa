using System.Buffers.Binary;
using System.Text;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// A forward cursor over a mapped GGUF file. Every read is checked against the bytes left first, so a damaged
/// file ends in a <see cref="ModelFormatException"/> naming the field being read, never in an out-of-range access.
/// </summary>
internal sealed class GgufReader(MappedFile file)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly UTF8Encoding LenientUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    public string Path => file.Path;

    public long Position { get; private set; }

    public long Remaining => file.Length - Position;

    public ReadOnlySpan<byte> ReadBytes(long count, string field)
    {
        Require(count, field);
        var span = file.Span(Position, (int)count);
        Position += count;
        return span;
    }

    public byte ReadByte(string field) => ReadBytes(1, field)[0];

    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2, field));

    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4, field));

    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8, field));

    /// <summary>
    /// A GGUF string: a 64-bit byte length, then UTF-8 bytes. Names and keys must be valid UTF-8
    /// (<paramref name="strict"/>); values keep what they can, as token texts may hold stray bytes.
    /// </summary>
    public string ReadString(string field, bool strict, long maxLength = int.MaxValue)
    {
        ulong length = ReadUInt64(field + " length");
        if (length > (ulong)Remaining)
            throw new ModelFormatException(Path, field, $"string length {length} exceeds the {Remaining} bytes left in the file");
        if (length > (ulong)maxLength)
            throw new ModelFormatException(Path, field, $"string length {length} exceeds the limit of {maxLength} bytes");
        var bytes = ReadBytes((long)length, field);
        try
        {
            return (strict ? StrictUtf8 : LenientUtf8).GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new ModelFormatException(Path, field, "is not valid UTF-8", ex);
        }
    }

    /// <summary>
    /// Checks that <paramref name="count"/> items of at least <paramref name="minimumItemSize"/> bytes each can fit in
    /// what is left of the file, before anything is allocated for them; returns the count as an int.
    /// </summary>
    public int CheckCount(ulong count, int minimumItemSize, string field)
    {
        ulong limit = (ulong)Remaining / (ulong)Math.Max(minimumItemSize, 1);
        if (count > limit)
            throw new ModelFormatException(Path, field, $"{count} items of at least {minimumItemSize} bytes cannot fit in the {Remaining} bytes left in the file");
        if (count > (ulong)Array.MaxLength)
            throw new ModelFormatException(Path, field, $"{count} items exceed the largest array this reader holds ({Array.MaxLength})");
        return (int)count;
    }

    public void Seek(long position)
    {
        if (position < 0 || position > file.Length) throw new ArgumentOutOfRangeException(nameof(position));
        Position = position;
    }

    private void Require(long count, string field)
    {
        if (count < 0 || count > Remaining || count > int.MaxValue)
            throw new ModelFormatException(Path, field, $"needs {count} bytes at offset {Position}, but the file ends {Remaining} bytes later (truncated?)");
    }
}
