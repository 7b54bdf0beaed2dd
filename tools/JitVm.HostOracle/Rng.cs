namespace JitVm.HostOracle;

/// <summary>xoshiro256** seeded through SplitMix64: a fixed, portable sequence for a given seed (System.Random's may change between runtimes).</summary>
public sealed class Rng
{
    ulong s0, s1, s2, s3;

    public Rng(ulong seed)
    {
        ulong x = seed;
        s0 = SplitMix(ref x);
        s1 = SplitMix(ref x);
        s2 = SplitMix(ref x);
        s3 = SplitMix(ref x);
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    public ulong Next64()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    public uint Next32() => (uint)(Next64() >> 32);

    /// <summary>Uniform in [0, n).</summary>
    public int Below(int n) => (int)((Next32() * (ulong)n) >> 32);

    /// <summary>True with probability <paramref name="num"/>/<paramref name="den"/>.</summary>
    public bool Chance(int num, int den) => Below(den) < num;

    public T Pick<T>(T[] items) => items[Below(items.Length)];

    /// <summary>A 64-bit stream identifier for a name (FNV-1a), so each form's sequence depends only on the seed and its name.</summary>
    public static ulong Hash(string s)
    {
        ulong h = 0xCBF29CE484222325;
        foreach (char c in s) h = (h ^ c) * 0x100000001B3;
        return h;
    }
}
