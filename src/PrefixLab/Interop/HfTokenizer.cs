using System.Text;
using System.Text.Json.Nodes;

namespace PrefixLab.Interop;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> tokenizer of the Llama family: byte-level BPE (Llama 3, Qwen2,
/// SmolLM: a Split regex and ByteLevel, <c>ignore_merges</c>) and SentencePiece-style BPE with byte
/// fallback (Llama 2, TinyLlama, Mistral: <c>▁</c> for spaces by a Prepend/Replace normalizer or a
/// Metaspace pre-tokenizer, <c>&lt;0xNN&gt;</c> tokens). Encoding runs Hugging Face's pipeline: added tokens
/// are cut out of the raw text, the rest normalized (then cut again at added tokens marked normalized),
/// pre-tokenized, merged by <see cref="HfBpeModel"/>, and the post-processor's (or
/// <c>tokenizer_config.json</c>'s) BOS/EOS put around it. Decoding runs the file's decoder chain.
/// </summary>
public sealed class HfTokenizer : ITokenizer
{
    private readonly HfTokenizerDefinition definition;
    private readonly Dictionary<int, string> tokens = [];
    private readonly Dictionary<string, HfAddedToken> addedByContent = new(StringComparer.Ordinal);
    private readonly HashSet<int> specialIds = [];
    private readonly HashSet<int> addedIds = [];
    private readonly HfAddedToken[] raw;
    private readonly HfAddedToken[] normalized;

    /// <summary>In <see cref="SplitAdded"/>: a token not looked for yet (-1 is "does not occur again").</summary>
    private const int NotSearched = -2;

    private HfTokenizer(HfTokenizerDefinition definition)
    {
        this.definition = definition;
        foreach (var (token, id) in definition.Vocabulary)
        {
            tokens[id] = token;
        }
        foreach (var added in definition.AddedTokens)
        {
            tokens[added.Id] = added.Content;
            addedIds.Add(added.Id);
            if (added.Special)
            {
                specialIds.Add(added.Id);
            }
        }
        // Added tokens marked normalized are looked for in the normalized text, by their normalized form.
        bool matchNormalized(HfAddedToken t) => t.Normalized && definition.Normalizer is not null;
        raw = [.. definition.AddedTokens.Where(t => !matchNormalized(t)).OrderByDescending(t => t.Content.Length)];
        normalized = [.. definition.AddedTokens.Where(matchNormalized).Select(t => t with { Content = definition.Normalizer!(t.Content) })
            .OrderByDescending(t => t.Content.Length)];
        foreach (var added in raw.Concat(normalized))
        {
            addedByContent.TryAdd(added.Content, added);
        }
        VocabularySize = tokens.Keys.Max() + 1;
    }

    /// <inheritdoc/>
    public string Source => definition.Source;

    /// <inheritdoc/>
    public int VocabularySize { get; }

    /// <inheritdoc/>
    public int? BosId => definition.BosId;

    /// <inheritdoc/>
    public int? EosId => definition.EosId;

    /// <summary>Whether the ids are bytes in GPT-2's alphabet (byte-level BPE) rather than SentencePiece pieces.</summary>
    public bool IsByteLevel => definition.ByteLevel;

    /// <summary>Reads <c>tokenizer.json</c> (already parsed as <paramref name="json"/>) and <c>tokenizer_config.json</c> of <paramref name="directory"/>.</summary>
    internal static HfTokenizer Load(string directory, JsonObject json) => new(HfTokenizerFiles.Read(directory, json));

    /// <summary>Reads the <c>tokenizer.json</c> and <c>tokenizer_config.json</c> of <paramref name="directory"/>.</summary>
    public static HfTokenizer Load(string directory) =>
        Load(directory, JsonFiles.ReadObject(Path.Combine(directory, Gpt2TokenizerFiles.TokenizerJson)));

    /// <inheritdoc/>
    public int[] Encode(string text, bool addSpecialTokens)
    {
        // A lone surrogate has no UTF-8; Hugging Face's tokenizers never see one (Python refuses to encode
        // it), so it is taken as the U+FFFD that UTF-8 encoding would make of it.
        text = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text));
        var ids = new List<int>(text.Length / 3 + 2);
        if (addSpecialTokens)
        {
            ids.AddRange(definition.Prefix);
        }
        foreach (var (section, start, token) in SplitAdded(text, raw))
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }
            string norm = definition.Normalizer is null ? section : definition.Normalizer(section);
            // Metaspace's prepend_scheme "first" asks whether a piece starts the input text.
            bool first = start == 0;
            foreach (var (part, _, normToken) in SplitAdded(norm, normalized))
            {
                if (normToken is not null)
                {
                    ids.Add(normToken.Id);
                    continue;
                }
                foreach (string piece in PreTokenize(part, first))
                {
                    definition.Model.Encode(piece, ids);
                }
                first = false;
            }
        }
        if (addSpecialTokens)
        {
            ids.AddRange(definition.Suffix);
        }
        return [.. ids];
    }

    private IEnumerable<string> PreTokenize(string text, bool first)
    {
        IEnumerable<string> pieces = [text];
        foreach (var step in definition.PreTokenizer)
        {
            var next = new List<string>();
            bool isFirst = first;
            foreach (string piece in pieces)
            {
                next.AddRange(step(piece, isFirst));
                isFirst = false;
            }
            pieces = next;
        }
        return pieces;
    }

    /// <summary>
    /// Cuts <paramref name="text"/> at the added tokens of <paramref name="set"/>, leftmost first and the
    /// longest of those starting at one place, as Hugging Face's added vocabulary does; an added token with
    /// <c>lstrip</c>/<c>rstrip</c> takes the whitespace on that side with it. Yields (section, start offset,
    /// the added token it is or null): the tokens themselves and the non-empty text between them.
    /// </summary>
    private static IEnumerable<(string Section, int Start, HfAddedToken? Token)> SplitAdded(string text, HfAddedToken[] set)
    {
        int done = 0;
        // Where each token occurs next; searched again only once the text before it is done, so a text
        // with many added tokens costs one pass per token rather than one per occurrence.
        var next = new int[set.Length];
        Array.Fill(next, NotSearched);
        while (done < text.Length)
        {
            int at = -1;
            HfAddedToken? found = null;
            for (int k = 0; k < set.Length; k++)
            {
                if (next[k] == NotSearched || (next[k] >= 0 && next[k] < done))
                {
                    next[k] = text.IndexOf(set[k].Content, done, StringComparison.Ordinal);
                }
                if (next[k] >= 0 && (at < 0 || next[k] < at))
                {
                    (at, found) = (next[k], set[k]);
                }
            }
            if (found is null)
            {
                break;
            }
            int before = at, after = at + found.Content.Length;
            while (found.LStrip && before > done && char.IsWhiteSpace(text[before - 1]))
            {
                before--;
            }
            if (before > done)
            {
                yield return (text[done..before], done, null);
            }
            yield return (found.Content, at, found);
            while (found.RStrip && after < text.Length && char.IsWhiteSpace(text[after]))
            {
                after++;
            }
            done = after;
        }
        if (done < text.Length)
        {
            yield return (text[done..], done, null);
        }
    }

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var strings = new List<string>();
        foreach (int id in ids)
        {
            if (tokens.TryGetValue(id, out string? token) && !(skipSpecialTokens && specialIds.Contains(id)))
            {
                strings.Add(token);
            }
        }
        foreach (var step in definition.Decoder)
        {
            strings = step(strings);
        }
        return string.Concat(strings);
    }

    /// <inheritdoc/>
    public string TokenText(int id)
    {
        if (!tokens.TryGetValue(id, out string? token))
        {
            return "";
        }
        if (addedIds.Contains(id))
        {
            return token;
        }
        return definition.ByteLevel ? HfDecoders.FromByteChars([token])
            : definition.Replacement is string r ? token.Replace(r, " ", StringComparison.Ordinal)
            : token.Replace("▁", " ", StringComparison.Ordinal);
    }

    /// <summary>The id of a token string as the vocabulary or the added tokens spell it (<c>▁the</c>, <c>&lt;s&gt;</c>), or null.</summary>
    public int? TokenId(string token) =>
        addedByContent.TryGetValue(token, out var added) ? added.Id : definition.Vocabulary.TryGetValue(token, out int id) ? id : null;
}
