namespace PrefixLab.Util;

/// <summary>Random token sequences for targets.</summary>
public static class RandomSequences
{
    /// <summary>
    /// Up to <paramref name="count"/> distinct random sequences of <paramref name="length"/> tokens below
    /// <paramref name="vocab"/>, from <paramref name="seed"/>; fewer only when V^N is close to the count
    /// (it gives up after 4 × count draws).
    /// </summary>
    public static IEnumerable<int[]> Distinct(int vocab, int length, int count, int seed)
    {
        var random = new Random(seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int attempt = 0; attempt < 4 * count && seen.Count < count; attempt++)
        {
            var sequence = Enumerable.Range(0, length).Select(_ => random.Next(vocab)).ToArray();
            if (seen.Add(string.Join(',', sequence)))
            {
                yield return sequence;
            }
        }
    }
}
