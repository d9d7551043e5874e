namespace PrefixLab.Cli;

/// <summary>
/// The known names closest to a mistyped one, for "did you mean --iters?". The parser's own typo
/// corrections print a block of lines; the error contract is one line, so the same idea is kept here
/// over the names the parser's definitions hold.
/// </summary>
internal static class Suggestions
{
    /// <summary>
    /// The names (at most two, equally close) within a few edits of <paramref name="typed"/> (a swap of
    /// two neighbours counts as one), or that start with it; empty when none is close.
    /// </summary>
    public static IReadOnlyList<string> Closest(string typed, IEnumerable<string> known)
    {
        string word = typed.TrimStart('-');
        int allowed = Math.Clamp(word.Length / 3, 1, 3);
        var scored = known.Distinct(StringComparer.Ordinal)
            .Select(name => (Name: name, Distance: Distance(word, name.TrimStart('-'))))
            .Where(s => s.Distance <= allowed)
            .OrderBy(s => s.Distance).ThenBy(s => s.Name, StringComparer.Ordinal)
            .ToList();
        return scored.Count == 0 ? [] : [.. scored.TakeWhile(s => s.Distance == scored[0].Distance).Take(2).Select(s => s.Name)];
    }

    /// <summary>" (did you mean --iters?)", or "" when nothing is close.</summary>
    public static string DidYouMean(string typed, IEnumerable<string> known, Func<string, string>? show = null)
    {
        var names = Closest(typed, known).Select(show ?? (n => n)).ToList();
        return names.Count == 0 ? "" : $" (did you mean {string.Join(" or ", names)}?)";
    }

    /// <summary>
    /// Edits from <paramref name="a"/> to <paramref name="b"/>: insertions, deletions, substitutions and
    /// swaps of neighbours; a word of four letters or more that a name starts with is one edit away.
    /// </summary>
    private static int Distance(string a, string b)
    {
        if (a.Length >= 4 && b.Length > a.Length && b.StartsWith(a, StringComparison.Ordinal))
        {
            return 1;
        }
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }
}
