using PrefixLab.Model;
using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>What <see cref="Capacity.Measure"/> found.</summary>
/// <param name="Vocab">V.</param>
/// <param name="Length">N, the tokens generated.</param>
/// <param name="Possible">V^N, the sequences there are.</param>
/// <param name="RealTokens">Single real tokens tried: all V.</param>
/// <param name="RealDistinct">Distinct generations over them (at most V).</param>
/// <param name="VirtualTried">Distinct virtual tokens tried (each encoding another target sequence).</param>
/// <param name="VirtualDistinct">Distinct generations over them.</param>
/// <param name="Exhaustive">True when every one of the V^N sequences was a target; false when they were sampled.</param>
public sealed record CapacityResult(int Vocab, int Length, double Possible, int RealTokens, int RealDistinct, long VirtualTried, long VirtualDistinct, bool Exhaustive);

/// <summary>
/// Paper C1's count on the unconditional construction: how many distinct length-N greedy generations
/// one real token reaches (at most V) against one virtual token (every one of the V^N).
/// </summary>
public static class Capacity
{
    /// <summary>Rows generated at once.</summary>
    private const int Batch = 16_384;

    /// <summary>
    /// Counts, on <see cref="Unconditional"/> for <paramref name="vocab"/> and <paramref name="length"/>,
    /// the distinct generations of every single real token, and of virtual tokens for every sequence
    /// when V^N ≤ <paramref name="exhaustiveUpTo"/>, else for <paramref name="samples"/> distinct random ones.
    /// </summary>
    public static CapacityResult Measure(int vocab, int length, long exhaustiveUpTo = 100_000, int samples = 10_000, int seed = 0, ScalarType dtype = ScalarType.Float32)
    {
        using var construction = new Unconditional(vocab, length, dtype);
        var model = construction.Construction.Model;
        var real = new HashSet<string>(StringComparer.Ordinal);
        for (int start = 0; start < vocab; start += Batch)
        {
            using var scope = NewDisposeScope();
            var tokens = arange(start, Math.Min(vocab, start + Batch), dtype: ScalarType.Int64).view(-1, 1);
            // A real token takes the virtual token's place: the same model, the same greedy decoding.
            real.UnionWith(Rows(Generation.Greedy(model, tokens, length)));
        }

        double possible = Math.Pow(vocab, length);
        bool exhaustive = possible <= exhaustiveUpTo;
        var targets = exhaustive ? All(vocab, length, (long)possible) : RandomSequences.Distinct(vocab, length, samples, seed);
        var generated = new HashSet<string>(StringComparer.Ordinal);
        long tried = 0;
        foreach (var chunk in targets.Chunk(Batch))
        {
            using var scope = NewDisposeScope();
            var inputs = zeros(chunk.Length, 0, dtype: ScalarType.Int64);
            generated.UnionWith(Rows(construction.Construction.Generate(construction.Encode(chunk), inputs)));
            tried += chunk.Length;
        }
        return new CapacityResult(vocab, length, possible, vocab, real.Count, tried, generated.Count, exhaustive);
    }

    private static IEnumerable<string> Rows(Tensor generated)
    {
        var flat = generated.data<long>().ToArray();
        int length = (int)generated.shape[1];
        return Enumerable.Range(0, (int)generated.shape[0]).Select(i => string.Join(',', flat.Skip(i * length).Take(length)));
    }

    private static IEnumerable<IReadOnlyList<int>> All(int vocab, int length, long count)
    {
        for (long i = 0; i < count; i++)
        {
            var digits = new int[length];
            long rest = i;
            for (int k = 0; k < length; k++, rest /= vocab)
            {
                digits[k] = (int)(rest % vocab);
            }
            yield return digits;
        }
    }
}
