using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace PrefixLab.Util;

/// <summary>
/// Keep masks drawn in fixed chunks, chunk <c>c</c> from the stream <c>Rng.For(seed, c)</c> exactly as
/// <see cref="Rng.FillBernoulli"/> draws it, so a mask depends on neither the number of threads nor the
/// code path. Four chunks run side by side, one xoshiro256** state per 64-bit lane of a 256-bit vector
/// (about three times the scalar rate here); without vector hardware each chunk is drawn on its own.
/// </summary>
internal static class BernoulliChunks
{
    /// <summary>Chunks drawn together by one call of <see cref="Fill"/>.</summary>
    public const int Lanes = 4;

    /// <summary>
    /// Fills chunks <paramref name="firstChunk"/> … <paramref name="firstChunk"/> + 3 (those that exist)
    /// of <paramref name="target"/>, cut into chunks of <paramref name="chunkSize"/>: each element is
    /// <paramref name="value"/> with probability <paramref name="keep"/> and 0 otherwise.
    /// </summary>
    public static void Fill(Span<float> target, ulong seed, int chunkSize, int firstChunk, double keep, float value)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        ArgumentOutOfRangeException.ThrowIfNegative(firstChunk);
        int start = firstChunk * chunkSize;
        int lanes = Math.Min(Lanes, (target.Length - start + chunkSize - 1) / chunkSize);
        if (!Vector256.IsHardwareAccelerated || lanes < 2)
        {
            for (int lane = 0; lane < lanes; lane++)
            {
                int from = start + (lane * chunkSize);
                Rng.For(seed, (ulong)(firstChunk + lane)).FillBernoulli(target.Slice(from, Math.Min(chunkSize, target.Length - from)), keep, value);
            }
            return;
        }
        Span<ulong> words = stackalloc ulong[4 * Lanes];
        Span<int> lengths = stackalloc int[Lanes];
        for (int lane = 0; lane < Lanes; lane++)
        {
            // A lane past the last chunk runs on a copy of lane 0's state and stores nothing.
            var (s0, s1, s2, s3) = Rng.For(seed, (ulong)(firstChunk + (lane < lanes ? lane : 0))).State;
            (words[lane], words[Lanes + lane], words[(2 * Lanes) + lane], words[(3 * Lanes) + lane]) = (s0, s1, s2, s3);
            lengths[lane] = lane < lanes ? Math.Min(chunkSize, target.Length - start - (lane * chunkSize)) : 0;
        }
        var a = Vector256.Create<ulong>(words[..Lanes]);
        var b = Vector256.Create<ulong>(words.Slice(Lanes, Lanes));
        var c = Vector256.Create<ulong>(words.Slice(2 * Lanes, Lanes));
        var d = Vector256.Create<ulong>(words.Slice(3 * Lanes, Lanes));
        uint threshold = Rng.DropThreshold(keep);
        var limit = Vector256.Create(threshold);
        var bits = Vector256.Create(BitConverter.SingleToUInt32Bits(value));
        ref float origin = ref Unsafe.Add(ref MemoryMarshal.GetReference(target), start);
        int longest = lengths[0];
        for (int i = 0; i < longest; i += 2)
        {
            var r = Step(ref a, ref b, ref c, ref d);
            // Little-endian: the low half of lane j's word is element i of chunk j, the high half element i + 1.
            var pairs = (Vector256.GreaterThanOrEqual(r.AsUInt32(), limit) & bits).AsUInt64();
            for (int lane = 0; lane < lanes; lane++)
            {
                ref float at = ref Unsafe.Add(ref origin, (lane * chunkSize) + i);
                if (i + 1 < lengths[lane])
                {
                    Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref at), pairs.GetElement(lane));
                }
                else if (i < lengths[lane])
                {
                    Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref at), (uint)pairs.GetElement(lane));
                }
            }
        }
    }

    /// <summary>One xoshiro256** step in each lane; AVX2 has no 64-bit multiply, so ×5 and ×9 are shifts and adds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Step(ref Vector256<ulong> s0, ref Vector256<ulong> s1, ref Vector256<ulong> s2, ref Vector256<ulong> s3)
    {
        var times5 = Vector256.ShiftLeft(s1, 2) + s1;
        var rotated = Vector256.ShiftLeft(times5, 7) | Vector256.ShiftRightLogical(times5, 57);
        var result = Vector256.ShiftLeft(rotated, 3) + rotated;
        var t = Vector256.ShiftLeft(s1, 17);
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = Vector256.ShiftLeft(s3, 45) | Vector256.ShiftRightLogical(s3, 19);
        return result;
    }
}
