using System.Runtime.CompilerServices;

namespace PrefixLab.Util;

/// <summary>
/// A small deterministic random generator (xoshiro256**, seeded through SplitMix64). Unlike
/// <see cref="Random"/>, its sequence is fixed by this code on every runtime, and a stream can be derived
/// from a seed and any labels (<see cref="For"/>), so a training step's batch depends only on the seed and
/// the step number: a resumed run draws exactly what an uninterrupted one would.
/// </summary>
public sealed class Rng
{
    private ulong s0, s1, s2, s3;

    /// <summary>Creates a generator from a 64-bit seed.</summary>
    public Rng(ulong seed)
    {
        ulong x = seed;
        s0 = SplitMix(ref x);
        s1 = SplitMix(ref x);
        s2 = SplitMix(ref x);
        s3 = SplitMix(ref x);
    }

    /// <summary>A generator for the stream named by <paramref name="labels"/> under <paramref name="seed"/>.</summary>
    public static Rng For(ulong seed, params ulong[] labels) => new(Mix(seed, labels));

    /// <summary>Hashes a seed and labels into one well-mixed 64-bit value.</summary>
    public static ulong Mix(ulong seed, params ulong[] labels)
    {
        ulong h = seed ^ 0x9E3779B97F4A7C15UL;
        _ = SplitMix(ref h);
        foreach (ulong label in labels)
        {
            h ^= label;
            h = SplitMix(ref h);
        }
        return h;
    }

    /// <summary>A uniform 64-bit value.</summary>
    public ulong NextULong() => Step(ref s0, ref s1, ref s2, ref s3);

    /// <summary>A uniform integer in [0, <paramref name="bound"/>), without modulo bias.</summary>
    public int Next(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        ulong limit = ulong.MaxValue - (ulong.MaxValue % (ulong)bound);
        ulong x;
        do
        {
            x = NextULong();
        }
        while (x >= limit);
        return (int)(x % (ulong)bound);
    }

    /// <summary>
    /// Sets each element of <paramref name="target"/> to <paramref name="value"/> with probability
    /// <paramref name="keep"/> and to 0 otherwise (32 random bits per element). The state lives in locals
    /// in the loop, which runs about three times faster than calling <see cref="NextULong"/> per element.
    /// </summary>
    public void FillBernoulli(Span<float> target, double keep, float value)
    {
        uint threshold = DropThreshold(keep);
        ulong a = s0, b = s1, c = s2, d = s3;
        for (int i = 0; i < target.Length; i += 2)
        {
            ulong r = Step(ref a, ref b, ref c, ref d);
            target[i] = (uint)r >= threshold ? value : 0f;
            if (i + 1 < target.Length)
            {
                target[i + 1] = (uint)(r >> 32) >= threshold ? value : 0f;
            }
        }
        (s0, s1, s2, s3) = (a, b, c, d);
    }

    /// <summary>The generator's four state words (for <see cref="BernoulliChunks"/>, which steps several at once).</summary>
    internal (ulong S0, ulong S1, ulong S2, ulong S3) State => (s0, s1, s2, s3);

    /// <summary>The 32-bit draw below which an element is dropped, for keep probability <paramref name="keep"/>.</summary>
    internal static uint DropThreshold(double keep) => (uint)Math.Min(uint.MaxValue, Math.Round((1 - keep) * 4294967296.0));

    /// <summary>A uniform double in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    /// <summary>One xoshiro256** step on the given state words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Step(ref ulong s0, ref ulong s1, ref ulong s2, ref ulong s3)
    {
        ulong result = RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = RotateLeft(s3, 45);
        return result;
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
