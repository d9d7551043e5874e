using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace PrefixLab.Interop;

/// <summary>
/// The <c>BPE</c> model of a <c>tokenizer.json</c>, one pre-tokenized piece at a time. The merges are
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (given the vocabulary and merges as they are, no
/// pre-tokenizer, no normalizer): it applies them by rank as Hugging Face's BPE does. Around it, written
/// here because the library has no option for them: <c>ignore_merges</c> (a piece that is a token is that
/// token, Llama 3), <c>byte_fallback</c> (a character outside the vocabulary becomes its UTF-8 bytes as
/// <c>&lt;0xNN&gt;</c> tokens, Llama 2), and <c>unk_token</c> with <c>fuse_unk</c> otherwise. A character
/// outside the vocabulary never takes part in a merge (every merge's tokens are in the vocabulary), so
/// cutting the piece around such characters and merging the rest gives what merging the whole piece does.
/// </summary>
internal sealed class HfBpeModel
{
    private readonly BpeTokenizer merger;
    private readonly Dictionary<string, int> vocabulary;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> lookup;
    private readonly bool ignoreMerges;
    private readonly int?[]? byteTokens;
    private readonly int? unknownId;
    private readonly bool fuseUnknown;

    public HfBpeModel(Dictionary<string, int> vocabulary, List<string> merges, string? unknownToken, bool byteFallback, bool fuseUnknown, bool ignoreMerges, string source)
    {
        this.vocabulary = vocabulary;
        lookup = vocabulary.GetAlternateLookup<ReadOnlySpan<char>>();
        this.ignoreMerges = ignoreMerges;
        this.fuseUnknown = fuseUnknown;
        if (unknownToken is not null)
        {
            PrefixLabException.Check(vocabulary.TryGetValue(unknownToken, out int unk), $"{source}: the unk_token '{unknownToken}' is not in the vocabulary");
            unknownId = unk;
        }
        if (byteFallback)
        {
            byteTokens = new int?[256];
            for (int b = 0; b < 256; b++)
            {
                byteTokens[b] = vocabulary.TryGetValue(ByteToken(b), out int id) ? id : null;
            }
        }
        try
        {
            merger = BpeTokenizer.Create(new BpeOptions(vocabulary) { Merges = merges });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new PrefixLabException($"{source}: the BPE vocabulary and merges do not fit together: {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>The name of the byte-fallback token of byte <paramref name="b"/>: <c>&lt;0x0A&gt;</c>.</summary>
    public static string ByteToken(int b) => string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>");

    /// <summary>Appends the ids of one pre-tokenized <paramref name="piece"/>.</summary>
    public void Encode(string piece, List<int> ids)
    {
        if (piece.Length == 0)
        {
            return;
        }
        if (ignoreMerges && lookup.TryGetValue(piece, out int whole))
        {
            ids.Add(whole);
            return;
        }
        int runStart = 0;
        bool lastUnknown = false;
        for (int i = 0; i < piece.Length;)
        {
            Rune.DecodeFromUtf16(piece.AsSpan(i), out Rune rune, out int width);
            if (lookup.ContainsKey(piece.AsSpan(i, width)))
            {
                i += width;
                continue;
            }
            if (i > runStart)
            {
                Merge(piece[runStart..i], ids);
                lastUnknown = false;
            }
            lastUnknown = Unknown(rune, ids, lastUnknown);
            i += width;
            runStart = i;
        }
        if (runStart < piece.Length)
        {
            Merge(piece[runStart..], ids);
        }
    }

    private void Merge(string known, List<int> ids) =>
        ids.AddRange(merger.EncodeToIds(known, considerPreTokenization: false, considerNormalization: false));

    /// <summary>
    /// A character outside the vocabulary: its byte tokens when the model falls back to bytes and has all
    /// of them, else the unknown token (once for a run of them with <c>fuse_unk</c>), else nothing, as in
    /// Hugging Face's BPE. Returns whether it became the unknown token.
    /// </summary>
    private bool Unknown(Rune rune, List<int> ids, bool lastUnknown)
    {
        if (byteTokens is not null)
        {
            Span<byte> utf8 = stackalloc byte[4];
            int count = rune.EncodeToUtf8(utf8);
            bool all = true;
            for (int k = 0; k < count; k++)
            {
                all &= byteTokens[utf8[k]] is not null;
            }
            if (all)
            {
                for (int k = 0; k < count; k++)
                {
                    ids.Add(byteTokens[utf8[k]]!.Value);
                }
                return false;
            }
        }
        if (unknownId is int unk)
        {
            if (!(fuseUnknown && lastUnknown))
            {
                ids.Add(unk);
            }
            return true;
        }
        return false;
    }

    /// <summary>Whether <paramref name="token"/> is in the model's vocabulary.</summary>
    public bool Contains(string token) => vocabulary.ContainsKey(token);
}
