namespace PrefixLab.Constructions;

/// <summary>The text vocabulary of the constructions' demos: the 95 printable ASCII characters, space (id 0) to '~' (id 94).</summary>
public static class AsciiVocabulary
{
    /// <summary>Number of tokens.</summary>
    public const int Size = 95;

    /// <summary>Token ids of <paramref name="text"/>; any other character is a one-line error.</summary>
    public static int[] Encode(string text) =>
        [.. text.Select(ch => ch is >= ' ' and <= '~' ? ch - ' ' : throw new PrefixLabException($"'{ch}' (U+{(int)ch:X4}) is not a printable ASCII character (space to ~), the vocabulary of the text constructions"))];

    /// <summary>The character of each id.</summary>
    public static string Decode(IEnumerable<long> tokens) =>
        new([.. tokens.Select(t => t is >= 0 and < Size ? (char)(' ' + t) : '\uFFFD')]);

    /// <summary>The map that swaps the case of letters and leaves every other character alone (the paper's demo).</summary>
    public static int[] SwapCase() =>
        [.. Enumerable.Range(0, Size).Select(id => (char)(' ' + id)).Select(ch => char.IsAsciiLetterUpper(ch) ? char.ToLowerInvariant(ch) : char.ToUpperInvariant(ch)).Select(ch => ch - ' ')];

    /// <summary>
    /// The paper's token-to-sequence demo: each capital letter continues to an animal, each small
    /// letter to a food (at most 9 characters, so with the letter itself a word of up to 10).
    /// </summary>
    public static IReadOnlyList<(char Input, string Answer)> AnimalsAndFoods { get; } =
    [
        .. Pairs('A', "lligator ear at og lephant ox iraffe orse guana aguar angaroo ion onkey ewt wl enguin uail abbit nake iger rial ulture olf erus ak ebra"),
        .. Pairs('a', "pple anana heese ate gg ig rape oney cing am iwi emon ango oodles live izza uiche ice oup omato don anilla affle igua ogurt ucchini"),
    ];

    private static IEnumerable<(char, string)> Pairs(char first, string answers) =>
        answers.Split(' ').Select((answer, i) => ((char)(first + i), answer));
}
