using System.Text.Json.Nodes;

namespace PrefixLab.Interop;

/// <summary>
/// A checkpoint's tokenizer as the rest of PrefixLab uses it, whatever its files: GPT-2's byte-level BPE
/// (<see cref="Gpt2Tokenizer"/>) or a Hugging Face <c>tokenizer.json</c> of the Llama family
/// (<see cref="HfTokenizer"/>). <see cref="Tokenizers.Load"/> picks the kind from a folder's files.
/// </summary>
public interface ITokenizer
{
    /// <summary>Where the tokenizer was read from, for messages.</summary>
    string Source { get; }

    /// <summary>The number of ids the tokenizer knows of: its largest id plus one (added tokens included).</summary>
    int VocabularySize { get; }

    /// <summary>The beginning-of-sequence id that <c>tokenizer_config.json</c> names, if any.</summary>
    int? BosId { get; }

    /// <summary>The end-of-sequence id that <c>tokenizer_config.json</c> names, if any.</summary>
    int? EosId { get; }

    /// <summary>
    /// The ids of <paramref name="text"/>. Text that spells out a special or added token is that token.
    /// <paramref name="addSpecialTokens"/> adds what the tokenizer adds around a sequence (the BOS of
    /// Llama 2, per <c>tokenizer_config.json</c> and the post-processor); false gives the text's ids alone.
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens);

    /// <summary>
    /// The text of <paramref name="ids"/>, as the tokenizer's decoder makes it; ids the tokenizer does not
    /// have (a padded model vocabulary's) add nothing. <paramref name="skipSpecialTokens"/> leaves special
    /// tokens (BOS, EOS, chat markers) out.
    /// </summary>
    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false);

    /// <summary>
    /// One token as a label (axes of attention maps, completion lists): its own text, a leading space kept,
    /// a byte token that is only part of a character shown as <c>&lt;0xNN&gt;</c> or U+FFFD.
    /// </summary>
    string TokenText(int id);
}

/// <summary>Reads the tokenizer of a checkpoint folder, choosing the kind from its files.</summary>
public static class Tokenizers
{
    /// <summary>Whether <paramref name="directory"/> holds a tokenizer: <c>tokenizer.json</c>, or <c>vocab.json</c> and <c>merges.txt</c>.</summary>
    public static bool Exists(string directory) => Gpt2Tokenizer.Exists(directory);

    /// <summary>
    /// Refuses a tokenizer that can make ids the model has no embedding for (a tokenizer of another
    /// model); a model's vocabulary may be larger than its tokenizer's (padded), never smaller.
    /// </summary>
    public static void CheckFits(this ITokenizer tokenizer, int modelVocabularySize) =>
        PrefixLabException.Check(tokenizer.VocabularySize <= modelVocabularySize,
            $"the tokenizer of {tokenizer.Source} has {tokenizer.VocabularySize} token ids, more than the model's vocab_size {modelVocabularySize}: it belongs to another model");

    /// <summary>
    /// The ids of <paramref name="text"/> as a sequence on its own, as Hugging Face's <c>tokenizer(text)</c>
    /// gives them: with the BOS/EOS the tokenizer's config asks for (Llama's BOS; nothing for GPT-2).
    /// </summary>
    public static int[] EncodeSequence(this ITokenizer tokenizer, string text) => tokenizer.Encode(text, addSpecialTokens: true);

    /// <summary>
    /// The ids <paramref name="continuation"/> gets when it follows <paramref name="prompt"/> in one text:
    /// the ids of the whole text past those of the prompt. A SentencePiece tokenizer given the continuation
    /// alone would mark its leading space twice (<c>▁▁joy</c>) and, for Llama, put a BOS in front. When the
    /// whole text's ids do not begin with the prompt's (a merge across the seam), the continuation is
    /// encoded alone, without special tokens.
    /// </summary>
    public static int[] EncodeContinuation(this ITokenizer tokenizer, string prompt, string continuation)
    {
        int[] head = tokenizer.Encode(prompt, addSpecialTokens: false);
        int[] whole = tokenizer.Encode(prompt + continuation, addSpecialTokens: false);
        return whole.AsSpan().StartsWith(head) ? whole[head.Length..] : tokenizer.Encode(continuation, addSpecialTokens: false);
    }

    /// <summary>
    /// The tokenizer of <paramref name="directory"/>: GPT-2's from <c>vocab.json</c> + <c>merges.txt</c>, or
    /// from a <c>tokenizer.json</c> whose pre-tokenizer is GPT-2's plain <c>ByteLevel</c>; any other
    /// <c>tokenizer.json</c> (Llama 2/3, TinyLlama, Mistral, Qwen2, SmolLM) as <see cref="HfTokenizer"/>, with
    /// <c>tokenizer_config.json</c> beside it when present. A missing or unreadable file, or a component
    /// type PrefixLab does not implement, is a one-line <see cref="PrefixLabException"/> naming it.
    /// </summary>
    public static ITokenizer Load(string directory)
    {
        PrefixLabException.Check(Directory.Exists(directory), $"tokenizer folder not found: '{directory}'");
        PrefixLabException.Check(Exists(directory), $"'{directory}' has no tokenizer (tokenizer.json, or vocab.json and merges.txt)");
        if (Gpt2TokenizerFiles.HasVocabAndMerges(directory))
        {
            return Gpt2Tokenizer.Load(directory);
        }
        var json = JsonFiles.ReadObject(Path.Combine(directory, Gpt2TokenizerFiles.TokenizerJson));
        return IsGpt2(json) ? Gpt2Tokenizer.Load(directory) : HfTokenizer.Load(directory, json);
    }

    /// <summary>
    /// GPT-2's own layout: a lone ByteLevel pre-tokenizer, no normalizer, nothing added around a sequence,
    /// no <c>ignore_merges</c>. Such a file is read by <see cref="Gpt2Tokenizer"/>, as it always was.
    /// </summary>
    private static bool IsGpt2(JsonObject json)
    {
        static string? TypeOf(JsonNode? node) => node?["type"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        return TypeOf(json["pre_tokenizer"]) == "ByteLevel" && json["normalizer"] is null
            && TypeOf(json["post_processor"]) is null or "ByteLevel"
            && !(json["model"]?["ignore_merges"] is JsonValue ignore && ignore.TryGetValue(out bool on) && on);
    }
}
