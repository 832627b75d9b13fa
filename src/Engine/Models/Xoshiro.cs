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
}
