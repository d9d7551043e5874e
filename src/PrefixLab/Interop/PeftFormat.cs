using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Model;
using PrefixLab.Tuning;
using PrefixLab.Util;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// Hugging Face PEFT's adapter layout: a directory with <c>adapter_config.json</c> and
/// <c>adapter_model.safetensors</c>. LoRA tensors are named
/// <c>base_model.model.{module}.lora_A.weight</c> (<c>[r, in]</c>) and <c>lora_B.weight</c>
/// (<c>[out, r]</c>), which is PrefixLab's own A and B: PEFT's LoRA on GPT-2's Conv1D
/// (<c>fan_in_fan_out</c>) computes <c>B A x</c> on the input as a Linear does. Prefix tuning is one
/// tensor <c>prompt_embeddings</c> <c>[P, layers · 2 · width]</c>, which PEFT views as
/// <c>[P, layers · 2, heads, head_dim]</c> with layer l's keys at row 2l and its values at 2l + 1:
/// PrefixLab's prefix-kv <c>[layer, key/value, head, P, head_dim]</c> permuted.
/// </summary>
public static class PeftFormat
{
    /// <summary>The adapter's configuration file.</summary>
    public const string ConfigFile = "adapter_config.json";

    /// <summary>The adapter's tensors.</summary>
    public const string WeightsFile = "adapter_model.safetensors";

    private const string LoraPrefix = "base_model.model.";
    private const string PromptEmbeddings = "prompt_embeddings";

    /// <summary>Whether <paramref name="path"/> is a directory holding a PEFT adapter.</summary>
    public static bool IsPeftAdapter(string path) => Directory.Exists(path) && File.Exists(Path.Combine(path, ConfigFile));

    /// <summary>
    /// Writes a LoRA or prefix-kv adapter attached to <paramref name="model"/> into
    /// <paramref name="directory"/> in PEFT's layout; each file is written atomically.
    /// </summary>
    public static void Save(string directory, ITuningMethod method, Gpt model, string? baseModel = null)
    {
        var config = new JsonObject
        {
            ["task_type"] = "CAUSAL_LM",
            ["inference_mode"] = true,
            ["base_model_name_or_path"] = baseModel,
        };
        Dictionary<string, Tensor> tensors;
        using var noGrad = no_grad();
        switch (method)
        {
            case Lora lora:
                config["peft_type"] = "LORA";
                config["r"] = lora.Settings.Rank;
                config["lora_alpha"] = lora.Settings.Alpha ?? lora.Settings.Rank;
                config["lora_dropout"] = 0.0;
                config["bias"] = "none";
                config["fan_in_fan_out"] = true;
                config["target_modules"] = new JsonArray([.. TargetModules(model, lora.AdaptedLayers).Select(t => (JsonNode)t)]);
                tensors = lora.SaveTensors().ToDictionary(kv => LoraPrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
                break;
            case PrefixKv prefix:
                var c = model.Config;
                config["peft_type"] = "PREFIX_TUNING";
                config["num_virtual_tokens"] = prefix.Settings.PrefixSize;
                config["token_dim"] = c.Width;
                config["num_layers"] = c.Layers;
                config["num_attention_heads"] = c.Heads;
                config["num_transformer_submodules"] = 1;
                config["encoder_hidden_size"] = c.Width;
                config["prefix_projection"] = false;
                // [layer, kv, head, P, d] → [P, layer, kv, head, d] → [P, layer · 2 · width]
                tensors = new() { [PromptEmbeddings] = prefix.KeysValues().permute(3, 0, 1, 2, 4).reshape(prefix.Settings.PrefixSize, -1).contiguous() };
                break;
            default:
                throw new PrefixLabException($"PEFT's format holds LoRA and prefix-tuning adapters; '{method.Name}' has no PEFT counterpart (use lora or prefix-kv)");
        }
        SafeTensors.Save(Path.Combine(directory, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteText(Path.Combine(directory, ConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// Attaches the PEFT adapter in <paramref name="directory"/> to <paramref name="model"/>. PEFT files
    /// carry no fingerprint of their base weights, so only the shapes are checked. NaN or ±∞ values are
    /// refused unless <paramref name="options"/> allow them.
    /// </summary>
    public static (ITuningMethod Method, AdapterInfo Info) Load(string directory, Gpt model, LoadOptions? options = null)
    {
        PrefixLabException.Check(IsPeftAdapter(directory), $"'{directory}' is not a PEFT adapter: it has no {ConfigFile}");
        var config = JsonFiles.ReadObject(Path.Combine(directory, ConfigFile));
        var (tensors, _) = SafeTensors.Load(Path.Combine(directory, WeightsFile), options);
        string type = Get<string>(config, "peft_type", directory);
        var (name, settings, mine) = type switch
        {
            "LORA" => LoraFromPeft(config, tensors, model, directory),
            "PREFIX_TUNING" => PrefixFromPeft(config, tensors, model, directory),
            _ => throw new PrefixLabException($"'{directory}': PEFT type '{type}' is not supported (LORA and PREFIX_TUNING are)"),
        };
        var method = AdapterFile.Attach(Path.Combine(directory, WeightsFile), name, settings, model, mine);
        return (method, new AdapterInfo(name, settings, AdapterFile.Fingerprint(model), 0, null, 0));
    }

    private static (string, TuningSettings, Dictionary<string, Tensor>) LoraFromPeft(JsonObject config, Dictionary<string, Tensor> tensors, Gpt model, string directory)
    {
        PrefixLabException.Check(!Get(config, "use_rslora", directory, false), $"'{directory}': rank-stabilised LoRA (use_rslora) is not supported");
        PrefixLabException.Check((config["rank_pattern"] as JsonObject ?? []).Count == 0 && (config["alpha_pattern"] as JsonObject ?? []).Count == 0,
            $"'{directory}': per-layer ranks or alphas (rank_pattern, alpha_pattern) are not supported");
        PrefixLabException.Check(Get(config, "bias", directory, "none") == "none", $"'{directory}': LoRA with trained biases is not supported");
        int rank = Get<int>(config, "r", directory);
        double alpha = Get<double>(config, "lora_alpha", directory);
        var linears = model.named_modules().Where(m => m.module is Linear).Select(m => m.name).ToHashSet(StringComparer.Ordinal);
        var mine = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in tensors)
        {
            string name = key.StartsWith(LoraPrefix, StringComparison.Ordinal) ? key[LoraPrefix.Length..] : key;
            name = name.Replace(".lora_A.default.", ".lora_A.", StringComparison.Ordinal).Replace(".lora_B.default.", ".lora_B.", StringComparison.Ordinal);
            string module = name[..Math.Max(0, name.LastIndexOf(".lora_", StringComparison.Ordinal))];
            if (!linears.Contains(module) && linears.Contains("transformer." + module))
            {
                module = "transformer." + module; // adapters made on GPT2Model rather than GPT2LMHeadModel
            }
            PrefixLabException.Check(linears.Contains(module) && (name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || name.EndsWith(".lora_B.weight", StringComparison.Ordinal)),
                $"'{directory}': tensor '{key}' is not a LoRA weight of a layer of this model");
            PrefixLabException.Check(mine.TryAdd(module + name[name.LastIndexOf(".lora_", StringComparison.Ordinal)..], value), $"'{directory}': tensor '{key}' appears twice (with and without '.default')");
        }
        var modules = mine.Keys.Select(k => k[..k.LastIndexOf(".lora_", StringComparison.Ordinal)]).Distinct().Order(StringComparer.Ordinal).ToList();
        PrefixLabException.Check(modules.Count > 0, $"'{directory}' holds no LoRA weights");
        // Full layer names as targets select exactly the layers the file adapts.
        return ("lora", new TuningSettings { Rank = rank, Alpha = alpha, Targets = modules }, mine);
    }

    private static (string, TuningSettings, Dictionary<string, Tensor>) PrefixFromPeft(JsonObject config, Dictionary<string, Tensor> tensors, Gpt model, string directory)
    {
        var c = model.Config;
        int size = Get<int>(config, "num_virtual_tokens", directory);
        var (width, layers, heads) = (Get<int>(config, "token_dim", directory), Get<int>(config, "num_layers", directory), Get<int>(config, "num_attention_heads", directory));
        PrefixLabException.Check(width == c.Width && layers == c.Layers && heads == c.Heads,
            $"'{directory}' is a prefix for {layers} layers × {heads} heads × width {width}; the model has {c.Layers} × {c.Heads} × {c.Width}");
        PrefixLabException.Check(Get(config, "num_transformer_submodules", directory, 1) == 1, $"'{directory}': encoder-decoder prefixes are not supported");
        PrefixLabException.Check(tensors.TryGetValue(PromptEmbeddings, out var embeddings), $"'{directory}' has no tensor '{PromptEmbeddings}'");
        PrefixLabException.Check(tensors.Count == 1, $"'{directory}': a prefix adapter holds only '{PromptEmbeddings}', not '{tensors.Keys.FirstOrDefault(k => k != PromptEmbeddings)}'");
        long[] expected = [size, layers * 2L * width];
        PrefixLabException.Check(embeddings!.shape.SequenceEqual(expected),
            $"'{directory}': {PromptEmbeddings} has shape [{string.Join(", ", embeddings.shape)}], expected [{string.Join(", ", expected)}]");
        var keysValues = embeddings.view(size, layers, 2, heads, c.HeadDim).permute(1, 2, 3, 0, 4);
        return ("prefix-kv", new TuningSettings { PrefixSize = size }, new() { ["prefix.keys_values"] = keysValues });
    }

    /// <summary>
    /// PEFT's <c>target_modules</c> for <paramref name="adapted"/>: the short names (<c>c_fc</c>) when
    /// PEFT's suffix match on them picks exactly these layers, otherwise the full layer names.
    /// </summary>
    private static List<string> TargetModules(Gpt model, IReadOnlyList<string> adapted)
    {
        var shortNames = adapted.Select(a => a[(a.LastIndexOf('.') + 1)..]).Distinct(StringComparer.Ordinal).ToList();
        var matched = model.named_modules().Where(m => m.module is Linear)
            .Select(m => m.name).Where(n => shortNames.Any(s => n == s || n.EndsWith("." + s, StringComparison.Ordinal)));
        return matched.Order(StringComparer.Ordinal).SequenceEqual(adapted.Order(StringComparer.Ordinal)) ? shortNames : [.. adapted];
    }

    /// <summary>The optional <paramref name="key"/>, <paramref name="fallback"/> when absent or null.</summary>
    private static T Get<T>(JsonObject config, string key, string directory, T fallback) =>
        config[key] is null ? fallback : Get<T>(config, key, directory);

    private static T Get<T>(JsonObject config, string key, string directory)
    {
        try
        {
            return config[key] is { } node ? node.GetValue<T>() : throw new PrefixLabException($"'{directory}/{ConfigFile}' lacks '{key}'");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw new PrefixLabException($"'{directory}/{ConfigFile}': '{key}' has the wrong type");
        }
    }
}
