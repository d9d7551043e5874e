using System.Text;

namespace PrefixLab.Interop;

/// <summary>
/// GPT-2's pre-tokenisation and byte alphabet. Text is cut into pieces exactly as GPT-2's pattern
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> cuts it, and BPE
/// never merges across pieces. The pattern is evaluated by hand over Unicode code points rather than by
/// <see cref="System.Text.RegularExpressions.Regex"/>, which sees UTF-16 units: a letter outside the
/// Basic Multilingual Plane (𝐀, CJK extension B) is two surrogates to it, not <c>\p{L}</c>, while
/// GPT-2's Python regex treats it as the letter it is.
/// </summary>
internal static class Gpt2PreTokenizer
{
    private enum Kind
    {
        Letter,
        Number,
        Space,
        Other,
    }

    /// <summary>
    /// GPT-2's <c>bytes_to_unicode</c>: every byte as a printable character, so that BPE tokens can be
    /// written as strings in <c>vocab.json</c> and <c>merges.txt</c>. Printable Latin-1 bytes stand for
    /// themselves; the other 68 (controls, space, soft hyphen) take the characters from U+0100 on, in
    /// byte order, which is why a space is written <c>Ġ</c> (U+0120).
    /// </summary>
    public static readonly char[] ByteToChar = MakeByteToChar();

    /// <summary>The inverse of <see cref="ByteToChar"/>: -1 for characters that stand for no byte.</summary>
    public static readonly int[] CharToByte = MakeCharToByte();

    /// <summary>
    /// Cuts <paramref name="text"/> into GPT-2's pieces, as (start, length) in UTF-16 units. The pieces
    /// cover the text without gaps, so their bytes concatenate back to the text.
    /// </summary>
    public static List<(int Start, int Length)> Split(string text)
    {
        var pieces = new List<(int, int)>();
        int i = 0;
        while (i < text.Length)
        {
            int end = PieceEnd(text, i);
            pieces.Add((i, end - i));
            i = end;
        }
        return pieces;
    }

    /// <summary>Where the piece that starts at <paramref name="start"/> ends: the pattern's alternatives in order.</summary>
    private static int PieceEnd(string text, int start)
    {
        if (text[start] == '\'' && ContractionLength(text, start) is > 0 and int contraction)
        {
            return start + contraction;
        }
        // " ?\p{L}+", " ?\p{N}+" and " ?[^\s\p{L}\p{N}]+": an optional space, then a run of one kind.
        int first = text[start] == ' ' ? start + 1 : start;
        var kind = first < text.Length ? KindAt(text, first, out _) : Kind.Space;
        if (kind != Kind.Space)
        {
            return RunEnd(text, first, kind);
        }
        // "\s+(?!\S)" takes the whitespace run but its last character when a non-space follows (that
        // character then leads the next word, as in "a  b" -> "a", " ", " b"); "\s+" takes a lone one.
        int runEnd = RunEnd(text, start, Kind.Space);
        return runEnd < text.Length && runEnd - 1 > start ? runEnd - 1 : runEnd;
    }

    private static int RunEnd(string text, int from, Kind kind)
    {
        int i = from;
        while (i < text.Length && KindAt(text, i, out int width) == kind)
        {
            i += width;
        }
        return i;
    }

    /// <summary>GPT-2's contractions are lower-case only, as its pattern spells them.</summary>
    private static int ContractionLength(string text, int at)
    {
        ReadOnlySpan<char> rest = text.AsSpan(at + 1);
        if (rest.StartsWith("re") || rest.StartsWith("ve") || rest.StartsWith("ll"))
        {
            return 3;
        }
        return rest.Length > 0 && rest[0] is 's' or 't' or 'm' or 'd' ? 2 : 0;
    }

    /// <summary>
    /// The class of the code point at <paramref name="i"/>: <c>\p{L}</c>, <c>\p{N}</c>, <c>\s</c> (Unicode
    /// White_Space, which is what both .NET's and Python's <c>\s</c> mean) or anything else. A lone
    /// surrogate decodes as U+FFFD, a symbol, so it is "anything else", as it is to GPT-2.
    /// </summary>
    private static Kind KindAt(string text, int i, out int width)
    {
        Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out width);
        return Rune.IsLetter(rune) ? Kind.Letter
            : Rune.IsNumber(rune) ? Kind.Number
            : Rune.IsWhiteSpace(rune) ? Kind.Space
            : Kind.Other;
    }

    private static int[] MakeCharToByte()
    {
        var map = Enumerable.Repeat(-1, ByteToChar.Max() + 1).ToArray();
        for (int b = 0; b < 256; b++)
        {
            map[ByteToChar[b]] = b;
        }
        return map;
    }

    private static char[] MakeByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
