using System.Text.Json;
using System.Text.Json.Nodes;

namespace PrefixLab.Interop;

/// <summary>A byte-level BPE as its files give it: token strings with ids, and merges in rank order.</summary>
/// <param name="Vocabulary">Token (in GPT-2's byte alphabet) to id, added tokens included.</param>
/// <param name="SpecialTokens">Tokens that text spelling them out stands for whole (<c>&lt;|endoftext|&gt;</c>).</param>
/// <param name="Merges">The merges, lowest rank (applied first) first.</param>
/// <param name="AddPrefixSpace">Whether a space goes in front of text that does not start with one.</param>
/// <param name="Source">The file(s) it came from, for messages.</param>
internal sealed record BpeDefinition(Dictionary<string, int> Vocabulary, string[] SpecialTokens, List<(string Left, string Right)> Merges, bool AddPrefixSpace, string Source);

/// <summary>
/// Reads a GPT-2 tokenizer from a checkpoint directory: <c>vocab.json</c> + <c>merges.txt</c> (the files
/// of Hugging Face's GPT2Tokenizer) or, failing those, <c>tokenizer.json</c> (its fast tokenizer). A
/// <c>tokenizer.json</c> that is not GPT-2's byte-level BPE is refused rather than tokenised wrongly.
/// </summary>
internal static class Gpt2TokenizerFiles
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";
    public const string TokenizerJson = "tokenizer.json";
    public const string EndOfText = "<|endoftext|>";

    public static bool HasVocabAndMerges(string directory) =>
        File.Exists(Path.Combine(directory, VocabFile)) && File.Exists(Path.Combine(directory, MergesFile));

    public static bool HasTokenizerJson(string directory) => File.Exists(Path.Combine(directory, TokenizerJson));

    /// <summary>vocab.json and merges.txt.</summary>
    public static BpeDefinition ReadVocabAndMerges(string directory)
    {
        string vocabPath = Path.Combine(directory, VocabFile);
        string mergesPath = Path.Combine(directory, MergesFile);
        Dictionary<string, int>? vocab;
        try
        {
            using var stream = File.OpenRead(vocabPath);
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream);
        }
        catch (JsonException e)
        {
            throw new PrefixLabException($"'{vocabPath}' is not a JSON object of tokens and ids: {e.Message.Split('\n')[0]}");
        }
        PrefixLabException.Check(vocab is not null, $"'{vocabPath}' is not a JSON object of tokens and ids");
        var merges = new List<(string, string)>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(mergesPath))
        {
            lineNumber++;
            if ((lineNumber == 1 && line.StartsWith("#version", StringComparison.Ordinal)) || line.Length == 0)
            {
                continue;
            }
            merges.Add(Merge(line, $"'{mergesPath}' line {lineNumber}"));
        }
        // Hugging Face's GPT2Tokenizer makes <|endoftext|> its special token (bos, eos and unk).
        string[] special = vocab!.ContainsKey(EndOfText) ? [EndOfText] : [];
        return new BpeDefinition(vocab!, special, merges, AddPrefixSpace: false, $"'{directory}' ({VocabFile}, {MergesFile})");
    }

    /// <summary>
    /// tokenizer.json: <c>model.vocab</c> and <c>model.merges</c> ("a b" strings, or ["a", "b"] pairs as
    /// newer writers store them), <c>added_tokens</c>, and the ByteLevel pre-tokenizer's prefix space.
    /// </summary>
    public static BpeDefinition ReadTokenizerJson(string directory)
    {
        string path = Path.Combine(directory, TokenizerJson);
        var json = JsonFiles.ReadObject(path);
        try
        {
            var model = json["model"]?.AsObject() ?? throw new PrefixLabException($"'{path}' has no model");
            string type = model["type"]?.GetValue<string>() ?? "BPE";
            PrefixLabException.Check(type == "BPE", $"'{path}': the model is {type}, not GPT-2's byte-level BPE");
            PrefixLabException.Check(json["normalizer"] is null, $"'{path}' has a normalizer, which GPT-2's byte-level BPE does not");
            PrefixLabException.Check(!(model["ignore_merges"]?.GetValue<bool>() ?? false), $"'{path}': ignore_merges is not GPT-2's BPE");
            foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                PrefixLabException.Check(string.IsNullOrEmpty(model[affix]?.GetValue<string>()), $"'{path}': the model's {affix} is not GPT-2's BPE");
            }
            var pre = json["pre_tokenizer"]?.AsObject();
            string preType = pre?["type"]?.GetValue<string>() ?? "none";
            PrefixLabException.Check(preType == "ByteLevel" && (pre!["use_regex"]?.GetValue<bool>() ?? true),
                $"'{path}': the pre-tokenizer is {preType}, not GPT-2's ByteLevel with its regex");

            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (token, id) in model["vocab"]?.AsObject() ?? throw new PrefixLabException($"'{path}' has no model.vocab"))
            {
                vocab[token] = id!.GetValue<int>();
            }
            var merges = new List<(string, string)>();
            int index = 0;
            foreach (var merge in model["merges"]?.AsArray() ?? throw new PrefixLabException($"'{path}' has no model.merges"))
            {
                string where = $"'{path}' merge {index++}";
                merges.Add(merge switch
                {
                    JsonArray { Count: 2 } pair => (pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()),
                    JsonValue value => Merge(value.GetValue<string>(), where),
                    _ => throw new PrefixLabException($"{where} is neither \"a b\" nor [\"a\", \"b\"]"),
                });
            }
            var special = new List<string>();
            foreach (var added in json["added_tokens"]?.AsArray() ?? [])
            {
                string content = added!["content"]!.GetValue<string>();
                PrefixLabException.Check(content.Length > 0, $"'{path}' has an empty added token");
                vocab.TryAdd(content, added["id"]!.GetValue<int>());
                special.Add(content);
            }
            return new BpeDefinition(vocab, [.. special], merges, pre!["add_prefix_space"]?.GetValue<bool>() ?? false, $"'{path}'");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new PrefixLabException($"'{path}' has a field of the wrong type: {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>"left right": byte-level tokens have no spaces (a space is written Ġ), so one space parts them.</summary>
    private static (string, string) Merge(string line, string where)
    {
        var parts = line.Split(' ');
        PrefixLabException.Check(parts.Length == 2 && parts[0].Length > 0 && parts[1].Length > 0, $"{where} is not a merge of two tokens: '{line}'");
        return (parts[0], parts[1]);
    }
}
