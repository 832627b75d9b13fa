using System.Buffers.Binary;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// Byte-level damage, seeded: bit flips, boundary values written over numbers, chunks cut, repeated or inserted,
/// invalid UTF-8, truncation. The values are the ones that break size arithmetic: zero, one, the edges of every signed
/// and unsigned width, and powers of two that overflow when multiplied.
/// </summary>
public static class HostileBytes
{
    public static readonly ulong[] BoundaryValues =
    [
        0, 1, 2, 3, 7, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        1UL << 32, 1UL << 40, 1UL << 48, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE,
        0xFFFF_FFFF_8000_0000, 1_000_000_007, 4096, 65537,
    ];

    /// <summary>Sequences no UTF-8 decoder may accept: a stray continuation, overlong forms, a surrogate, a cut sequence, 0xFF.</summary>
    public static readonly byte[][] InvalidUtf8 = [[0x80], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFF], [0xF4, 0x90, 0x80, 0x80]];

    public static ulong Boundary(Random random) => BoundaryValues[random.Next(BoundaryValues.Length)];

    /// <summary>Writes <paramref name="value"/> little-endian over <paramref name="width"/> bytes at <paramref name="offset"/> of a copy.</summary>
    public static byte[] SetNumber(byte[] bytes, int offset, int width, ulong value)
    {
        var copy = (byte[])bytes.Clone();
        Span<byte> encoded = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(encoded, value);
        encoded[..Math.Min(width, copy.Length - offset)].CopyTo(copy.AsSpan(offset));
        return copy;
    }

    /// <summary>One to four random damages, anywhere in the first <paramref name="region"/> bytes (all of them by default).</summary>
    public static (byte[] Bytes, string Damage) Havoc(byte[] seed, Random random, int region = int.MaxValue)
    {
        var bytes = new List<byte>(seed);
        var done = new List<string>();
        for (int steps = random.Next(1, 5); steps > 0 && bytes.Count > 0; steps--)
        {
            int limit = Math.Min(bytes.Count, region);
            int at = random.Next(limit);
            switch (random.Next(9))
            {
                case 0:
                    int bit = random.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    done.Add($"flip bit {bit} of byte {at}");
                    break;
                case 1:
                    byte value = random.Next(3) switch { 0 => 0, 1 => 0xFF, _ => (byte)random.Next(256) };
                    bytes[at] = value;
                    done.Add($"byte {at} = 0x{value:X2}");
                    break;
                case 2:
                case 3:
                    int width = (int)Math.Pow(2, random.Next(4));
                    ulong number = Boundary(random);
                    for (int i = 0; i < width && at + i < bytes.Count; i++) bytes[at + i] = (byte)(number >> (8 * i));
                    done.Add($"{width}-byte 0x{number:X} at {at}");
                    break;
                case 4:
                    int cut = Math.Min(bytes.Count - at, 1 + random.Next(16));
                    bytes.RemoveRange(at, cut);
                    done.Add($"cut {cut} bytes at {at}");
                    break;
                case 5:
                    int length = Math.Min(bytes.Count - at, 1 + random.Next(32));
                    bytes.InsertRange(at, bytes.GetRange(at, length));
                    done.Add($"repeat {length} bytes at {at}");
                    break;
                case 6:
                    var junk = new byte[1 + random.Next(8)];
                    random.NextBytes(junk);
                    bytes.InsertRange(at, junk);
                    done.Add($"insert {junk.Length} random bytes at {at}");
                    break;
                case 7:
                    var invalid = InvalidUtf8[random.Next(InvalidUtf8.Length)];
                    for (int i = 0; i < invalid.Length && at + i < bytes.Count; i++) bytes[at + i] = invalid[i];
                    done.Add($"invalid UTF-8 {Convert.ToHexString(invalid)} at {at}");
                    break;
                default:
                    bytes.RemoveRange(at, bytes.Count - at);
                    done.Add($"truncate at {at}");
                    break;
            }
        }
        return (bytes.ToArray(), string.Join(", ", done));
    }
}
