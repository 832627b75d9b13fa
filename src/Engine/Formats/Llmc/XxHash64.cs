using System.Buffers.Binary;
using System.Numerics;

namespace LlmCpu.Engine.Formats.Llmc;

/// <summary>
/// XXH64 (Yann Collet's public xxHash specification), seed 0, computed incrementally: the checksum of every
/// section of an LlmCpu INT4 file. It detects damage at several GB/s, so verifying a whole file at load is cheap.
/// </summary>
public sealed class XxHash64
{
    private const ulong P1 = 0x9E3779B185EBCA87UL, P2 = 0xC2B2AE3D27D4EB4FUL, P3 = 0x165667B19E3779F9UL, P4 = 0x85EBCA77C2B2AE63UL, P5 = 0x27D4EB2F165667C5UL;

    private ulong _v1 = unchecked(P1 + P2), _v2 = P2, _v3 = 0, _v4 = unchecked(0 - P1);
    private readonly byte[] _buffer = new byte[32];
    private int _buffered;
    private long _length;

    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        var hasher = new XxHash64();
        hasher.Append(data);
        return hasher.Digest();
    }

    public static unsafe ulong Hash(byte* data, long length)
    {
        var hasher = new XxHash64();
        for (long offset = 0; offset < length; offset += 1 << 30)
            hasher.Append(new ReadOnlySpan<byte>(data + offset, (int)Math.Min(1 << 30, length - offset)));
        return hasher.Digest();
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        _length += data.Length;
        if (_buffered > 0)
        {
            int take = Math.Min(32 - _buffered, data.Length);
            data[..take].CopyTo(_buffer.AsSpan(_buffered));
            _buffered += take;
            data = data[take..];
            if (_buffered < 32) return;
            Stripe(_buffer);
            _buffered = 0;
        }
        while (data.Length >= 32)
        {
            Stripe(data);
            data = data[32..];
        }
        data.CopyTo(_buffer);
        _buffered = data.Length;
    }

    private void Stripe(ReadOnlySpan<byte> s)
    {
        _v1 = Round(_v1, BinaryPrimitives.ReadUInt64LittleEndian(s));
        _v2 = Round(_v2, BinaryPrimitives.ReadUInt64LittleEndian(s[8..]));
        _v3 = Round(_v3, BinaryPrimitives.ReadUInt64LittleEndian(s[16..]));
        _v4 = Round(_v4, BinaryPrimitives.ReadUInt64LittleEndian(s[24..]));
    }

    private static ulong Round(ulong acc, ulong input) => unchecked(BitOperations.RotateLeft(acc + input * P2, 31) * P1);

    private static ulong Merge(ulong acc, ulong value) => unchecked((acc ^ Round(0, value)) * P1 + P4);

    public ulong Digest()
    {
        unchecked
        {
            ulong h;
            if (_length >= 32)
            {
                h = BitOperations.RotateLeft(_v1, 1) + BitOperations.RotateLeft(_v2, 7) + BitOperations.RotateLeft(_v3, 12) + BitOperations.RotateLeft(_v4, 18);
                h = Merge(h, _v1);
                h = Merge(h, _v2);
                h = Merge(h, _v3);
                h = Merge(h, _v4);
            }
            else
            {
                h = P5;
            }
            h += (ulong)_length;
            var rest = _buffer.AsSpan(0, _buffered);
            while (rest.Length >= 8)
            {
                h ^= Round(0, BinaryPrimitives.ReadUInt64LittleEndian(rest));
                h = BitOperations.RotateLeft(h, 27) * P1 + P4;
                rest = rest[8..];
            }
            if (rest.Length >= 4)
            {
                h ^= BinaryPrimitives.ReadUInt32LittleEndian(rest) * P1;
                h = BitOperations.RotateLeft(h, 23) * P2 + P3;
                rest = rest[4..];
            }
            foreach (byte b in rest)
            {
                h ^= b * P5;
                h = BitOperations.RotateLeft(h, 11) * P1;
            }
            h ^= h >> 33;
            h *= P2;
            h ^= h >> 29;
            h *= P3;
            h ^= h >> 32;
            return h;
        }
    }
}
