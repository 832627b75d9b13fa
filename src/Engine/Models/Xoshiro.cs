namespace LlmCpu.Engine.Models;

/// <summary>xoshiro256** (Blackman and Vigna): fast, seeded, good enough for random weights.</summary>
internal sealed unsafe class Xoshiro
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro(int seed)
    {
        ulong x = (ulong)seed + 0x9E3779B97F4A7C15UL;
        ulong SplitMix() { x += 0x9E3779B97F4A7C15UL; ulong z = x; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL; z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL; return z ^ (z >> 31); }
        _s0 = SplitMix(); _s1 = SplitMix(); _s2 = SplitMix(); _s3 = SplitMix();
    }

    public ulong Next()
    {
        ulong result = System.Numerics.BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t;
        _s3 = System.Numerics.BitOperations.RotateLeft(_s3, 45);
        return result;
    }

    public float NextFloat() => (Next() >> 40) * (1f / (1 << 24));

    public void Fill(byte* destination, long length)
    {
        long i = 0;
        for (; i + 8 <= length; i += 8) *(ulong*)(destination + i) = Next();
        for (; i < length; i++) destination[i] = (byte)Next();
    }

    /// <summary>
    /// Fills bytes with pairs of random 4-bit codes for weights (code - 8) * scale that average zero: nibble 0 (which
    /// would be -8, with no +8 to balance it) becomes 8, so values -7..7 each come 1/16 of the time and 0 comes 2/16.
    /// Uniform codes 0..15 would give every weight a mean of -0.5 * scale, which a matrix turns into a bias of
    /// -0.5 * scale * sum(x) per output; over a few layers of a real-sized model that grows until it overflows.
    /// </summary>
    public void FillZeroMeanInt4(byte* destination, long length)
    {
        Fill(destination, length);
        var table = ZeroMeanInt4Pairs;
        for (long i = 0; i < length; i++) destination[i] = table[destination[i]];
    }

    private static readonly byte[] ZeroMeanInt4Pairs = Enumerable.Range(0, 256).Select(b =>
    {
        int low = b & 0xF, high = b >> 4;
        return (byte)((low == 0 ? 8 : low) | (high == 0 ? 8 : high) << 4);
    }).ToArray();
}
