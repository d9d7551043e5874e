using System.Globalization;
using System.Text;

namespace PrefixLab.Interop;

/// <summary>The decoder steps of a <c>tokenizer.json</c> that the Llama family uses, as Hugging Face's tokenizers apply them.</summary>
internal static class HfDecoders
{
    /// <summary>
    /// ByteLevel: every token's characters as the bytes they stand for, all as one UTF-8 text; invalid
    /// UTF-8 becomes U+FFFD. A token with a character outside the byte alphabet (an added token's text) is
    /// its own UTF-8, as in the Rust decoder.
    /// </summary>
    public static string FromByteChars(IEnumerable<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            if (token.All(c => c < Gpt2PreTokenizer.CharToByte.Length && Gpt2PreTokenizer.CharToByte[c] >= 0))
            {
                bytes.AddRange(token.Select(c => (byte)Gpt2PreTokenizer.CharToByte[c]));
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
            }
        }
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>
    /// ByteFallback: each run of <c>&lt;0xNN&gt;</c> tokens becomes the text of its bytes; bytes that are not
    /// valid UTF-8 become one U+FFFD each, as in the Rust decoder.
    /// </summary>
    public static List<string> ByteFallback(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (string token in tokens)
        {
            if (ByteOf(token) is byte b)
            {
                bytes.Add(b);
                continue;
            }
            Flush();
            result.Add(token);
        }
        Flush();
        return result;

        void Flush()
        {
            if (bytes.Count == 0)
            {
                return;
            }
            try
            {
                result.Add(new UTF8Encoding(false, throwOnInvalidBytes: true).GetString([.. bytes]));
            }
            catch (DecoderFallbackException)
            {
                result.AddRange(Enumerable.Repeat("\uFFFD", bytes.Count));
            }
            bytes.Clear();
        }
    }

    /// <summary>The byte of a byte-fallback token <c>&lt;0xNN&gt;</c>, or null for any other token.</summary>
    public static byte? ByteOf(string token) =>
        token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b) ? b : null;

    /// <summary>Strip: up to <paramref name="start"/> leading and <paramref name="stop"/> trailing <paramref name="content"/> characters.</summary>
    public static string Strip(string token, string content, int start, int stop)
    {
        int from = 0, to = token.Length;
        while (from < start && from < to && token.AsSpan(from).StartsWith(content, StringComparison.Ordinal))
        {
            from += content.Length;
        }
        for (int n = 0; n < stop && to - content.Length >= from && token.AsSpan(0, to).EndsWith(content, StringComparison.Ordinal); n++)
        {
            to -= content.Length;
        }
        return token[from..to];
    }

    /// <summary>Metaspace: the replacement becomes a space, and the first token loses the one put in front of it.</summary>
    public static List<string> Metaspace(List<string> tokens, string replacement, bool prepended)
    {
        var result = new List<string>(tokens.Count);
        for (int i = 0; i < tokens.Count; i++)
        {
            string text = tokens[i].Replace(replacement, " ", StringComparison.Ordinal);
            result.Add(i == 0 && prepended && text.StartsWith(' ') ? text[1..] : text);
        }
        return result;
    }
}
