using System.Text;

namespace PrefixLab.Interop;

/// <summary>
/// One pre-tokenizer step of a <c>tokenizer.json</c>: cuts a piece of text into smaller pieces (or
/// rewrites it). <paramref name="first"/> says the piece starts the input text, which Metaspace's
/// <c>prepend_scheme: "first"</c> asks about.
/// </summary>
internal delegate IEnumerable<string> PreTokenizerStep(string piece, bool first);

/// <summary>
/// The pre-tokenizers of the Llama family's <c>tokenizer.json</c> files, evaluated by hand over Unicode
/// code points (not UTF-16 units, as .NET's <see cref="System.Text.RegularExpressions.Regex"/> would:
/// 𝐀 or a CJK extension B character is one letter to Hugging Face's Oniguruma regex, two surrogates to
/// .NET's). A Split regex is accepted only when it is one of the patterns below, each cut exactly.
/// </summary>
internal static class HfPreTokenizers
{
    /// <summary>Llama 3's Split regex (SmolLM3 uses it too): numbers in groups of up to three digits.</summary>
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's (and Qwen3's) Split regex: Llama 3's with every digit its own piece.</summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's pattern, which some files give as a Split regex rather than ByteLevel's <c>use_regex</c>.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>The cutting function of a known Split regex, or null for a pattern PrefixLab does not evaluate.</summary>
    public static Func<string, List<(int Start, int Length)>>? KnownPattern(string pattern) => pattern switch
    {
        Llama3Pattern => text => SplitLlama3(text, maxDigits: 3),
        Qwen2Pattern => text => SplitLlama3(text, maxDigits: 1),
        Gpt2Pattern => Gpt2PreTokenizer.Split,
        _ => null,
    };

    /// <summary>Cuts <paramref name="text"/> into the (start, length) pieces the pattern's matches make.</summary>
    public static IEnumerable<string> Cut(string text, List<(int Start, int Length)> pieces) =>
        pieces.Select(p => text.Substring(p.Start, p.Length));

    /// <summary>
    /// Llama 3's pattern, alternative by alternative in order, as a backtracking regex engine tries them at
    /// each position. Every character is matched by some alternative, so the pieces cover the text.
    /// </summary>
    internal static List<(int Start, int Length)> SplitLlama3(string text, int maxDigits)
    {
        var pieces = new List<(int, int)>();
        for (int i = 0; i < text.Length;)
        {
            int end = PieceEnd(text, i, maxDigits);
            pieces.Add((i, end - i));
            i = end;
        }
        return pieces;
    }

    private static int PieceEnd(string text, int i, int maxDigits)
    {
        var (kind, width) = KindAt(text, i);
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if (text[i] == '\'' && ContractionLength(text, i + 1) is > 0 and int contraction)
        {
            return i + 1 + contraction;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (kind == Kind.Letter)
        {
            return RunEnd(text, i, Kind.Letter, int.MaxValue);
        }
        if (kind != Kind.Number && !IsNewline(text[i]) && i + width < text.Length && KindAt(text, i + width).Kind == Kind.Letter)
        {
            return RunEnd(text, i + width, Kind.Letter, int.MaxValue);
        }
        // \p{N}{1,n}
        if (kind == Kind.Number)
        {
            return RunEnd(text, i, Kind.Number, maxDigits);
        }
        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        int other = text[i] == ' ' && i + 1 < text.Length ? i + 1 : i;
        if (KindAt(text, other).Kind == Kind.Other)
        {
            int end = RunEnd(text, other, Kind.Other, int.MaxValue);
            while (end < text.Length && IsNewline(text[end]))
            {
                end++;
            }
            return end;
        }
        // What is left is whitespace. "\s*[\r\n]+" reaches the run's last newline; "\s+(?!\S)" leaves the
        // run's last character to the word after it; "\s+" takes a lone one.
        int runEnd = RunEnd(text, i, Kind.Space, int.MaxValue);
        int lastNewline = text.AsSpan(i, runEnd - i).LastIndexOfAny('\r', '\n');
        if (lastNewline >= 0)
        {
            return i + lastNewline + 1;
        }
        if (runEnd < text.Length)
        {
            int lastStart = runEnd - (char.IsLowSurrogate(text[runEnd - 1]) ? 2 : 1);
            return lastStart > i ? lastStart : runEnd;
        }
        return runEnd;
    }

    private static bool IsNewline(char c) => c is '\r' or '\n';

    /// <summary>
    /// The contraction after an apostrophe, compared case-insensitively as Oniguruma's <c>(?i)</c> does:
    /// simple case folding, under which the long s (ſ) is an s.
    /// </summary>
    private static int ContractionLength(string text, int at)
    {
        char Folded(int k) => k < text.Length ? (text[k] == 'ſ' ? 's' : char.ToLowerInvariant(text[k])) : '\0';
        char a = Folded(at), b = Folded(at + 1);
        if ((a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l'))
        {
            return 2;
        }
        return a is 's' or 't' or 'm' or 'd' ? 1 : 0;
    }

    private enum Kind
    {
        Letter,
        Number,
        Space,
        Other,
    }

    private static int RunEnd(string text, int from, Kind kind, int maxCount)
    {
        int i = from;
        for (int count = 0; count < maxCount && i < text.Length; count++)
        {
            var (k, width) = KindAt(text, i);
            if (k != kind)
            {
                break;
            }
            i += width;
        }
        return i;
    }

    /// <summary>
    /// <c>\p{L}</c>, <c>\p{N}</c>, <c>\s</c> (Unicode White_Space, which Oniguruma's <c>\s</c> and .NET's
    /// <see cref="Rune.IsWhiteSpace"/> both mean) or anything else, of the code point at <paramref name="i"/>.
    /// </summary>
    private static (Kind Kind, int Width) KindAt(string text, int i)
    {
        Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int width);
        var kind = Rune.IsLetter(rune) ? Kind.Letter
            : Rune.IsNumber(rune) ? Kind.Number
            : Rune.IsWhiteSpace(rune) ? Kind.Space
            : Kind.Other;
        return (kind, width);
    }

    /// <summary>
    /// The Digits pre-tokenizer: ASCII digits isolated, one piece each (<paramref name="individual"/>) or
    /// one piece per run, as the Rust tokenizers' <c>is_ascii_digit</c> split does.
    /// </summary>
    public static IEnumerable<string> Digits(string piece, bool individual)
    {
        int start = 0;
        for (int i = 0; i < piece.Length;)
        {
            if (!char.IsAsciiDigit(piece[i]))
            {
                i++;
                continue;
            }
            int end = i + 1;
            while (!individual && end < piece.Length && char.IsAsciiDigit(piece[end]))
            {
                end++;
            }
            if (i > start)
            {
                yield return piece[start..i];
            }
            yield return piece[i..end];
            start = i = end;
        }
        if (start < piece.Length)
        {
            yield return piece[start..];
        }
    }

    /// <summary>
    /// Metaspace: spaces become <paramref name="replacement"/>, which also goes in front of the piece when
    /// the prepend scheme asks (not twice); with <paramref name="split"/> each replacement starts a new piece.
    /// </summary>
    public static IEnumerable<string> Metaspace(string piece, bool first, string replacement, string prependScheme, bool split)
    {
        string text = piece.Replace(" ", replacement, StringComparison.Ordinal);
        if (!text.StartsWith(replacement, StringComparison.Ordinal) && (prependScheme == "always" || (prependScheme == "first" && first)))
        {
            text = replacement + text;
        }
        if (!split)
        {
            return [text];
        }
        var pieces = new List<string>();
        int start = 0;
        for (int at = text.IndexOf(replacement, 1, StringComparison.Ordinal); at > 0; at = text.IndexOf(replacement, at + 1, StringComparison.Ordinal))
        {
            pieces.Add(text[start..at]);
            start = at;
        }
        pieces.Add(text[start..]);
        return pieces.Where(p => p.Length > 0);
    }

    /// <summary>GPT-2's byte alphabet: each UTF-8 byte of <paramref name="piece"/> as its printable character.</summary>
    public static string ToByteChars(string piece)
    {
        var bytes = Encoding.UTF8.GetBytes(piece);
        return string.Create(bytes.Length, bytes, (chars, b) =>
        {
            for (int k = 0; k < b.Length; k++)
            {
                chars[k] = Gpt2PreTokenizer.ByteToChar[b[k]];
            }
        });
    }
}
