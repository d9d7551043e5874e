using System.Text;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// Texts that exercise every branch of GPT-2's pre-tokenisation: runs of spaces, tabs and newlines at the
/// start, middle and end; contractions (and their upper-case non-matches); digits of several scripts;
/// punctuation runs; accents, combining marks, CJK, Cyrillic, Arabic, Hebrew, Devanagari, Thai; emoji with
/// skin tones, joiners and flags; control and other Unicode spaces; code; the special token.
/// </summary>
internal static class Gpt2Texts
{
    private static readonly string[] Words =
    [
        "hello", "Hello", "HELLO", "world", "the", "The", "a", "I", "x", "indent", "tokenizer", "GPT", "prefix-tuning",
        "don't", "I'm", "they're", "we've", "you'll", "he'd", "it's", "can't", "IT'S", "DON'T", "'s", "'t", "'re", "'ve",
        "'m", "'ll", "'d", "'S", "'", "''", "'x", "rock'n'roll", "o'clock",
        "0", "7", "42", "2024", "3.14159", "1,000,000", "-5", "1e-5", "0x1F", "٣٤٥", "१२३", "½", "²", "Ⅻ", "①",
        ".", ",", "!", "?!", "...", "--", "—", "()", "[x]", "{}", "\"quoted\"", "#", "@user", "$10", "100%", "a+b=c", "<", "```",
        "café", "naïve", "Straße", "résumé", "e\u0301", "ñandú", "Ελληνικά", "Привет", "мир", "日本語", "中文", "テスト",
        "한국어", "مرحبا", "שלום", "हिन्दी", "ไทย", "Ångström", "ǅ", "ʼ",
        "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🙂🙂", "🎉!", "★", "→", "∑", "€", "©",
        "\u0000", "\u0001", "\u001f", "\u007f", "\u200b", "\u00ad", "\ufeff",
        "def f(x):", "return x", "if (a && b) {", "x += 1;", "print('hi')", "https://example.org/a?b=c",
        "<|endoftext|>", "<|endoftext", "|>",
    ];

    private static readonly string[] Gaps =
    [
        "", " ", " ", " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", " \t ", "\u00a0", "\u3000",
        "\u2003", "\v", "\f", "\u0085", "\u2028", "\u00a0 ", " \u00a0",
    ];

    /// <summary>
    /// <paramref name="count"/> texts of 1 to 8 words with random gaps (and gaps at the ends), always the same
    /// for one seed. Every character is in the Basic Multilingual Plane or a non-letter outside it (emoji),
    /// where .NET's Regex, and so the reference, reads GPT-2's pattern as Python does.
    /// </summary>
    public static List<string> Generate(int count, int seed)
    {
        var random = new Random(seed);
        var texts = new List<string>(count);
        for (int n = 0; n < count; n++)
        {
            var text = new StringBuilder();
            if (random.Next(4) == 0)
            {
                text.Append(Gaps[random.Next(Gaps.Length)]);
            }
            int words = random.Next(1, 9);
            for (int w = 0; w < words; w++)
            {
                text.Append(Words[random.Next(Words.Length)]);
                if (w + 1 < words || random.Next(4) == 0)
                {
                    text.Append(Gaps[random.Next(Gaps.Length)]);
                }
            }
            texts.Add(text.ToString());
        }
        return texts;
    }

    /// <summary>The text with control characters and spaces made visible, for failure messages.</summary>
    public static string Show(string text) =>
        string.Concat(text.Select(c => char.IsControl(c) || char.IsWhiteSpace(c) ? $"\\u{(int)c:x4}" : c.ToString()));
}
