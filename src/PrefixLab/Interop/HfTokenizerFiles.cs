using System.Text;
using System.Text.Json.Nodes;

namespace PrefixLab.Interop;

/// <summary>An entry of <c>tokenizer.json</c>'s <c>added_tokens</c>.</summary>
internal sealed record HfAddedToken(string Content, int Id, bool Special, bool LStrip, bool RStrip, bool Normalized);

/// <summary>One decoder step: token strings in, token strings out (Hugging Face's decoder chain).</summary>
internal delegate List<string> DecoderStep(List<string> tokens);

/// <summary>Everything a <see cref="HfTokenizer"/> is made of, as its files give it.</summary>
internal sealed record HfTokenizerDefinition(
    HfBpeModel Model,
    Dictionary<string, int> Vocabulary,
    HfAddedToken[] AddedTokens,
    Func<string, string>? Normalizer,
    PreTokenizerStep[] PreTokenizer,
    bool ByteLevel,
    string? Replacement,
    int[] Prefix,
    int[] Suffix,
    DecoderStep[] Decoder,
    int? BosId,
    int? EosId,
    string Source);

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> (and <c>tokenizer_config.json</c> beside it) of the kinds the
/// Llama family uses. Each component type is read if PrefixLab implements it exactly and refused with one
/// line naming it otherwise, so that a tokenizer is never applied half-understood.
/// </summary>
internal static class HfTokenizerFiles
{
    public const string ConfigFile = "tokenizer_config.json";

    public static HfTokenizerDefinition Read(string directory, JsonObject json)
    {
        string path = Path.Combine(directory, Gpt2TokenizerFiles.TokenizerJson);
        string source = $"'{path}'";
        string configPath = Path.Combine(directory, ConfigFile);
        var config = File.Exists(configPath) ? JsonFiles.ReadObject(configPath) : null;
        try
        {
            var model = json["model"] as JsonObject ?? throw new PrefixLabException($"{source} has no model");
            string type = Str(model, "type") ?? "BPE";
            PrefixLabException.Check(type == "BPE", $"{source}: model type '{type}' is not supported (only BPE)");
            PrefixLabException.Check(model["dropout"] is null || model["dropout"]!.GetValue<double>() == 0, $"{source}: BPE dropout is not supported");
            foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                PrefixLabException.Check(string.IsNullOrEmpty(Str(model, affix)), $"{source}: the model's {affix} is not supported");
            }
            var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var (token, id) in model["vocab"] as JsonObject ?? throw new PrefixLabException($"{source} has no model.vocab"))
            {
                vocab[token] = id!.GetValue<int>();
            }
            var merges = Merges(model, source);
            var added = (json["added_tokens"] as JsonArray ?? []).Select(t => AddedToken(t!, source)).ToArray();
            var normalizer = Normalizer(json["normalizer"], source);
            bool byteLevel = false;
            string? replacement = null;
            var pre = PreTokenizer(json["pre_tokenizer"], source, ref byteLevel, ref replacement);
            var hfModel = new HfBpeModel(vocab, merges, Str(model, "unk_token"), Bool(model, "byte_fallback", false),
                Bool(model, "fuse_unk", false), Bool(model, "ignore_merges", false), source);

            int Id(string token) => added.FirstOrDefault(a => a.Content == token)?.Id
                ?? (vocab.TryGetValue(token, out int id) ? id : throw new PrefixLabException($"{source}: the special token '{token}' is not in the vocabulary"));
            var (prefix, suffix) = PostProcessor(json["post_processor"], source);
            int? bos = TokenName(config?["bos_token"]) is string b ? Id(b) : null;
            int? eos = TokenName(config?["eos_token"]) is string e ? Id(e) : null;
            // tokenizer_config.json's add_bos_token / add_eos_token decide what goes around a sequence, as
            // transformers' LlamaTokenizerFast rebuilds its post-processor from them; a flag the config does
            // not give leaves that side as the post-processor has it.
            if (config?["add_bos_token"] is JsonValue addBos)
            {
                prefix = !addBos.GetValue<bool>() ? [] : bos is int id ? [id] : throw new PrefixLabException($"'{configPath}': add_bos_token is true but bos_token is not set");
            }
            if (config?["add_eos_token"] is JsonValue addEos)
            {
                suffix = !addEos.GetValue<bool>() ? [] : eos is int id ? [id] : throw new PrefixLabException($"'{configPath}': add_eos_token is true but eos_token is not set");
            }
            var decoder = Decoder(json["decoder"], source);
            return new HfTokenizerDefinition(hfModel, vocab, added, normalizer, pre, byteLevel, replacement, prefix, suffix, decoder, bos, eos, source);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or KeyNotFoundException)
        {
            throw new PrefixLabException($"{source} has a field of the wrong type: {e.Message.Split('\n')[0]}");
        }
    }

    private static List<string> Merges(JsonObject model, string source)
    {
        var merges = new List<string>();
        foreach (var merge in model["merges"] as JsonArray ?? throw new PrefixLabException($"{source} has no model.merges"))
        {
            var (left, right) = merge switch
            {
                JsonArray { Count: 2 } pair => (pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()),
                JsonValue value when value.GetValue<string>().Split(' ') is [var l, var r] => (l, r),
                _ => throw new PrefixLabException($"{source}: merge {merges.Count} is neither \"a b\" nor [\"a\", \"b\"]"),
            };
            // Microsoft.ML.Tokenizers takes merges as "a b" lines, so a token with a space cannot be given to it.
            PrefixLabException.Check(left.Length > 0 && right.Length > 0 && !left.Contains(' ') && !right.Contains(' '),
                $"{source}: merge {merges.Count} has a token with a space or an empty one, which is not supported");
            merges.Add(left + " " + right);
        }
        return merges;
    }

    private static HfAddedToken AddedToken(JsonNode token, string source)
    {
        string content = Str(token, "content") ?? "";
        PrefixLabException.Check(content.Length > 0, $"{source} has an empty added token");
        PrefixLabException.Check(!Bool(token, "single_word", false), $"{source}: added token '{content}' is single_word, which is not supported");
        bool special = Bool(token, "special", false);
        return new HfAddedToken(content, token["id"]!.GetValue<int>(), special, Bool(token, "lstrip", false), Bool(token, "rstrip", false), Bool(token, "normalized", !special));
    }

    private static Func<string, string>? Normalizer(JsonNode? node, string source)
    {
        if (node is null)
        {
            return null;
        }
        string type = Str(node, "type") ?? "none";
        return type switch
        {
            "NFC" => s => s.Normalize(NormalizationForm.FormC),
            "NFD" => s => s.Normalize(NormalizationForm.FormD),
            "NFKC" => s => s.Normalize(NormalizationForm.FormKC),
            "NFKD" => s => s.Normalize(NormalizationForm.FormKD),
            "Prepend" when Str(node, "prepend") is string prepend => s => s.Length == 0 ? s : prepend + s,
            "Replace" => StringReplace(node, source, "normalizer") is var (from, to) ? s => s.Replace(from, to, StringComparison.Ordinal) : null,
            "Sequence" => (node["normalizers"] as JsonArray ?? []).Select(n => Normalizer(n, source)).OfType<Func<string, string>>()
                .Aggregate((Func<string, string>)(s => s), (all, next) => s => next(all(s))),
            _ => throw new PrefixLabException($"{source}: normalizer type '{type}' is not supported"),
        };
    }

    /// <summary>A Replace of a literal string (a Regex pattern is refused).</summary>
    private static (string From, string To) StringReplace(JsonNode node, string source, string what)
    {
        string? from = Str(node["pattern"], "String");
        PrefixLabException.Check(!string.IsNullOrEmpty(from), $"{source}: a {what} Replace with a Regex pattern is not supported");
        return (from!, Str(node, "content") ?? "");
    }

    private static PreTokenizerStep[] PreTokenizer(JsonNode? node, string source, ref bool byteLevel, ref string? replacement)
    {
        if (node is null)
        {
            return [];
        }
        string type = Str(node, "type") ?? "none";
        switch (type)
        {
            case "Sequence":
                var steps = new List<PreTokenizerStep>();
                foreach (var step in node["pretokenizers"] as JsonArray ?? [])
                {
                    steps.AddRange(PreTokenizer(step, source, ref byteLevel, ref replacement));
                }
                return [.. steps];
            case "ByteLevel":
                byteLevel = true;
                bool prefixSpace = Bool(node, "add_prefix_space", true), regex = Bool(node, "use_regex", true);
                return [(piece, _) =>
                {
                    string text = prefixSpace && !piece.StartsWith(' ') ? " " + piece : piece;
                    var pieces = regex ? HfPreTokenizers.Cut(text, Gpt2PreTokenizer.Split(text)) : [text];
                    return pieces.Select(HfPreTokenizers.ToByteChars);
                }];
            case "Split":
                PrefixLabException.Check(Str(node, "behavior") == "Isolated" && !Bool(node, "invert", false),
                    $"{source}: Split behavior '{Str(node, "behavior")}'{(Bool(node, "invert", false) ? " inverted" : "")} is not supported (only Isolated)");
                string? pattern = Str(node["pattern"], "Regex");
                PrefixLabException.Check(pattern is not null, $"{source}: a Split with a String pattern is not supported");
                var cut = HfPreTokenizers.KnownPattern(pattern!) ?? throw new PrefixLabException($"{source}: Split regex not supported: {pattern}");
                return [(piece, _) => HfPreTokenizers.Cut(piece, cut(piece))];
            case "Digits":
                bool individual = Bool(node, "individual_digits", false);
                return [(piece, _) => HfPreTokenizers.Digits(piece, individual)];
            case "Metaspace":
                string repl = replacement = Str(node, "replacement") ?? "▁";
                // Files older than prepend_scheme have add_prefix_space, which meant "always".
                string scheme = Str(node, "prepend_scheme") ?? (Bool(node, "add_prefix_space", true) ? "always" : "never");
                PrefixLabException.Check(scheme is "always" or "first" or "never", $"{source}: Metaspace prepend_scheme '{scheme}' is not supported");
                bool split = Bool(node, "split", true);
                return [(piece, first) => HfPreTokenizers.Metaspace(piece, first, repl, scheme, split)];
            default:
                throw new PrefixLabException($"{source}: pre-tokenizer type '{type}' is not supported");
        }
    }

    /// <summary>The ids a single sequence gets in front and behind: TemplateProcessing's <c>single</c>.</summary>
    private static (int[] Prefix, int[] Suffix) PostProcessor(JsonNode? node, string source)
    {
        string type = node is null ? "none" : Str(node, "type") ?? "none";
        switch (type)
        {
            case "none" or "ByteLevel":
                return ([], []);
            case "Sequence":
                var parts = (node!["processors"] as JsonArray ?? []).Select(p => PostProcessor(p, source)).ToList();
                return ([.. parts.SelectMany(p => p.Prefix)], [.. parts.SelectMany(p => p.Suffix)]);
            case "TemplateProcessing":
                var prefix = new List<int>();
                var suffix = new List<int>();
                bool seenSequence = false;
                foreach (var item in node!["single"] as JsonArray ?? throw new PrefixLabException($"{source}: TemplateProcessing has no single template"))
                {
                    if (item!["Sequence"] is not null)
                    {
                        seenSequence = true;
                        continue;
                    }
                    string name = Str(item["SpecialToken"], "id") ?? throw new PrefixLabException($"{source}: a TemplateProcessing item is neither Sequence nor SpecialToken");
                    var ids = node["special_tokens"]?[name]?["ids"] as JsonArray ?? throw new PrefixLabException($"{source}: TemplateProcessing's special token '{name}' has no ids");
                    (seenSequence ? suffix : prefix).AddRange(ids.Select(i => i!.GetValue<int>()));
                }
                return ([.. prefix], [.. suffix]);
            default:
                throw new PrefixLabException($"{source}: post-processor type '{type}' is not supported");
        }
    }

    private static DecoderStep[] Decoder(JsonNode? node, string source)
    {
        if (node is null)
        {
            return [tokens => [string.Join(' ', tokens)]];
        }
        string type = Str(node, "type") ?? "none";
        switch (type)
        {
            case "Sequence":
                return [.. (node["decoders"] as JsonArray ?? []).SelectMany(d => Decoder(d, source))];
            case "ByteLevel":
                return [tokens => [HfDecoders.FromByteChars(tokens)]];
            case "Replace":
                var (from, to) = StringReplace(node, source, "decoder");
                return [tokens => tokens.ConvertAll(t => t.Replace(from, to, StringComparison.Ordinal))];
            case "ByteFallback":
                return [HfDecoders.ByteFallback];
            case "Fuse":
                return [tokens => [string.Concat(tokens)]];
            case "Strip":
                string content = Str(node, "content") ?? " ";
                int start = node["start"]?.GetValue<int>() ?? 0, stop = node["stop"]?.GetValue<int>() ?? 0;
                return [tokens => tokens.ConvertAll(t => HfDecoders.Strip(t, content, start, stop))];
            case "Metaspace":
                string repl = Str(node, "replacement") ?? "▁";
                string scheme = Str(node, "prepend_scheme") ?? (Bool(node, "add_prefix_space", true) ? "always" : "never");
                return [tokens => HfDecoders.Metaspace(tokens, repl, scheme != "never")];
            default:
                throw new PrefixLabException($"{source}: decoder type '{type}' is not supported");
        }
    }

    /// <summary>A token named in tokenizer_config.json: a string, or an object with its <c>content</c>.</summary>
    private static string? TokenName(JsonNode? node) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonObject o => Str(o, "content"),
        _ => null,
    };

    private static string? Str(JsonNode? node, string key) => node?[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static bool Bool(JsonNode node, string key, bool fallback) => node[key] is JsonValue v ? v.GetValue<bool>() : fallback;
}
