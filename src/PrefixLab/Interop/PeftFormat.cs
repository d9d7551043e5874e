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
/// (<c>fan_in_fan_out</c>) computes <c>B A x</c> on the input as a Linear does; <c>rank_pattern</c>
/// and <c>alpha_pattern</c> map to the same settings of PrefixLab's LoRA. Prefix tuning is one
/// tensor <c>prompt_embeddings</c> <c>[P, layers · 2 · width]</c>, which PEFT views as
/// <c>[P, layers · 2, heads, head_dim]</c> with layer l's keys at row 2l and its values at 2l + 1:
/// PrefixLab's prefix-kv <c>[layer, key/value, head, P, head_dim]</c> permuted; both put the content at
/// positions P … after the prefix. Prompt tuning is <c>prompt_embeddings</c> <c>[P, width]</c>: input
/// embeddings to which the model adds position embeddings 0 … P−1, where PrefixLab's soft prompt holds
/// the whole input vector, so the two differ by those position embeddings (and a hard prompt's are its
/// tokens' embeddings). In both tools the content follows at positions P ….
/// </summary>
public static class PeftFormat
{
    /// <summary>The adapter's configuration file.</summary>
    public const string ConfigFile = "adapter_config.json";

    /// <summary>The adapter's tensors.</summary>
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>The adapter's tensors as older PEFT versions wrote them, with torch.save.</summary>
    public const string PickledWeightsFile = "adapter_model.bin";

    private const string LoraPrefix = "base_model.model.";
    private const string PromptEmbeddings = "prompt_embeddings";

    /// <summary>PEFT LoRA options that change what the adapter computes and that PrefixLab's LoRA lacks.</summary>
    private static readonly (string Field, string What)[] UnsupportedLora =
    [
        ("use_dora", "DoRA's magnitude vectors"),
        ("lora_bias", "a trained bias on lora_B"),
        ("modules_to_save", "whole layers trained and saved beside the LoRA weights"),
        ("trainable_token_indices", "trained rows of the token embedding"),
        ("use_rslora", "rank-stabilised scaling alpha / √r"),
        ("layer_replication", "layers repeated in the stack"),
        ("target_parameters", "LoRA on parameters rather than layers"),
        ("alora_invocation_tokens", "activated LoRA, which acts only after its invocation tokens"),
        ("use_qalora", "QALoRA's pooled inputs"),
        ("use_bdlora", "block-diagonal LoRA factors"),
        ("monteclora_config", "Monte Carlo sampling of the adapters"),
    ];

    /// <summary>The tuning methods whose adapters <see cref="Save"/> writes in PEFT's layout; a new one is one more name here.</summary>
    public static IReadOnlyList<string> SavableMethods { get; } = ["lora", "prefix-kv", "soft-prompt", "hard-prompt"];

    /// <summary>Whether <paramref name="path"/> is a directory holding a PEFT adapter.</summary>
    public static bool IsPeftAdapter(string path) => Directory.Exists(path) && File.Exists(Path.Combine(path, ConfigFile));

    /// <summary>
    /// Writes a LoRA, prefix-kv, soft-prompt or hard-prompt adapter attached to <paramref name="model"/>
    /// into <paramref name="directory"/> in PEFT's layout (a prompt as <c>PROMPT_TUNING</c>); each file is
    /// written atomically. <paramref name="baseModel"/> goes into <c>base_model_name_or_path</c> as given:
    /// pass the name the user gave for the model (the command line passes <c>--model</c> as typed).
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
                config["rank_pattern"] = JsonSerializer.SerializeToNode(lora.Settings.RankPattern ?? new Dictionary<string, int>());
                config["alpha_pattern"] = JsonSerializer.SerializeToNode(lora.Settings.AlphaPattern ?? new Dictionary<string, double>());
                tensors = lora.SaveTensors().ToDictionary(kv => LoraPrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
                break;
            case SoftPrompt or HardPrompt:
                config["peft_type"] = "PROMPT_TUNING";
                AddShape(config, model, method.Settings.PrefixSize);
                config["prompt_tuning_init"] = "RANDOM";
                tensors = new() { [PromptEmbeddings] = PromptToPeft(method, model) };
                break;
            case PrefixKv prefix:
                PrefixLabException.Check(prefix.Settings.KvPositions == KvPositions.AfterPrefix,
                    "this prefix-kv adapter was trained with the content at positions from 0, before PrefixLab followed Hugging Face; PEFT puts the content after the prefix, so it would mean something else there: retrain it (tune --method prefix-kv) to export it");
                config["peft_type"] = "PREFIX_TUNING";
                AddShape(config, model, prefix.Settings.PrefixSize);
                config["encoder_hidden_size"] = model.Config.Width;
                config["prefix_projection"] = false;
                // [layer, kv, head, P, d] → [P, layer, kv, head, d] → [P, layer · 2 · width]
                tensors = new() { [PromptEmbeddings] = prefix.KeysValues().permute(3, 0, 1, 2, 4).reshape(prefix.Settings.PrefixSize, -1).contiguous() };
                break;
            default:
                throw new PrefixLabException($"PEFT's format holds {string.Join(" and ", SavableMethods)} adapters; '{method.Name}' has no PEFT counterpart (hard and soft prompts go to PEFT's prompt tuning)");
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
        var tensors = ReadWeights(directory, options);
        string type = Get<string>(config, "peft_type", directory);
        var (name, settings, mine) = type switch
        {
            "LORA" => LoraFromPeft(config, tensors, model, directory),
            "PREFIX_TUNING" => PrefixFromPeft(config, tensors, model, directory),
            "PROMPT_TUNING" => PromptFromPeft(config, tensors, model, directory),
            _ => throw new PrefixLabException($"'{directory}': PEFT type '{type}' is not supported (LORA, PREFIX_TUNING and PROMPT_TUNING are)"),
        };
        var method = AdapterFile.Attach(directory, name, settings, model, mine);
        // PEFT's prompts go in front of the tokens, where PrefixLab's soft prompt replaces padding rows.
        return (method, new AdapterInfo(name, settings, AdapterFile.Fingerprint(model), method.InputPadding(0), null, 0, KvPositions.AfterPrefix));
    }

    /// <summary>
    /// The adapter's tensors: <c>adapter_model.safetensors</c>, or else PEFT's older pickled
    /// <c>adapter_model.bin</c>, read by <see cref="TorchZipCheckpoint"/> without running its pickle.
    /// </summary>
    private static Dictionary<string, Tensor> ReadWeights(string directory, LoadOptions? options)
    {
        string safetensors = Path.Combine(directory, WeightsFile);
        string pickled = Path.Combine(directory, PickledWeightsFile);
        PrefixLabException.Check(File.Exists(safetensors) || File.Exists(pickled), $"'{directory}' has no {WeightsFile} or {PickledWeightsFile}");
        string path = File.Exists(safetensors) ? safetensors : pickled;
        var tensors = TensorFiles.ReadAll(path);
        foreach (var (name, tensor) in tensors)
        {
            (options ?? new LoadOptions()).CheckFinite(path, name, tensor);
        }
        return tensors;
    }

    private static (string, TuningSettings, Dictionary<string, Tensor>) LoraFromPeft(JsonObject config, Dictionary<string, Tensor> tensors, Gpt model, string directory)
    {
        string file = $"{directory}/{ConfigFile}";
        foreach (var (field, what) in UnsupportedLora)
        {
            if (field.StartsWith("use_", StringComparison.Ordinal))
            {
                Get(config, field, directory, false); // PEFT's switches are booleans: anything else is a malformed config
            }
            PrefixLabException.Check(!IsSet(config[field]), $"'{file}': {field} is set ({what}); PrefixLab's LoRA does not support it");
        }
        string bias = Get(config, "bias", directory, "none");
        PrefixLabException.Check(bias == "none", $"'{file}': bias is '{bias}' (trained biases); PrefixLab's LoRA supports only \"none\"");
        int rank = Get<int>(config, "r", directory);
        double alpha = Get<double>(config, "lora_alpha", directory);
        var rankPattern = Pattern<int>(config, "rank_pattern", directory);
        var alphaPattern = Pattern<double>(config, "alpha_pattern", directory);
        var linears = model.named_modules().Where(m => m.module is Linear).Select(m => m.name).ToHashSet(StringComparer.Ordinal);
        var mine = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in tensors)
        {
            string name = key.StartsWith(LoraPrefix, StringComparison.Ordinal) ? key[LoraPrefix.Length..] : key;
            name = name.Replace(".lora_A.default.", ".lora_A.", StringComparison.Ordinal).Replace(".lora_B.default.", ".lora_B.", StringComparison.Ordinal);
            PrefixLabException.Check(name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || name.EndsWith(".lora_B.weight", StringComparison.Ordinal),
                $"'{directory}': tensor '{key}' is {WhatTensor(name)}, which PrefixLab's LoRA does not support");
            string module = name[..name.LastIndexOf(".lora_", StringComparison.Ordinal)];
            if (!linears.Contains(module) && linears.Contains("transformer." + module))
            {
                module = "transformer." + module; // adapters made on GPT2Model rather than GPT2LMHeadModel
            }
            PrefixLabException.Check(linears.Contains(module), $"'{directory}': tensor '{key}' adapts '{module}', which is not a Linear layer of this model");
            PrefixLabException.Check(mine.TryAdd(module + name[name.LastIndexOf(".lora_", StringComparison.Ordinal)..], value), $"'{directory}': tensor '{key}' appears twice (with and without '.default')");
        }
        var modules = mine.Keys.Select(k => k[..k.LastIndexOf(".lora_", StringComparison.Ordinal)]).Distinct().Order(StringComparer.Ordinal).ToList();
        PrefixLabException.Check(modules.Count > 0, $"'{directory}' holds no LoRA weights");
        // Full layer names as targets select exactly the layers the file adapts.
        return ("lora", new TuningSettings { Rank = rank, Alpha = alpha, Targets = modules, RankPattern = rankPattern, AlphaPattern = alphaPattern }, mine);
    }

    /// <summary>What a tensor of a LoRA file that is not a LoRA A or B weight probably is, by PEFT's names.</summary>
    private static string WhatTensor(string name) => name switch
    {
        _ when name.Contains("lora_magnitude_vector", StringComparison.Ordinal) => "a DoRA magnitude (use_dora)",
        _ when name.EndsWith("lora_B.bias", StringComparison.Ordinal) => "a LoRA bias (lora_bias)",
        _ when name.Contains("trainable_tokens", StringComparison.Ordinal) => "a trained token embedding (trainable_token_indices)",
        _ when name.Contains("lora_embedding_", StringComparison.Ordinal) => "LoRA on an embedding layer",
        _ when !name.Contains(".lora_", StringComparison.Ordinal) => "a whole trained layer (modules_to_save)",
        _ => "not a LoRA A or B weight",
    };

    /// <summary>Whether a config value switches an option on: present and not false, null, 0, empty or "none".</summary>
    private static bool IsSet(JsonNode? node) => node switch
    {
        null => false,
        JsonArray array => array.Count > 0,
        JsonObject obj => obj.Count > 0,
        JsonValue value when value.TryGetValue(out bool flag) => flag,
        JsonValue value when value.TryGetValue(out string? text) => text.Length > 0 && text != "none",
        JsonValue value when value.TryGetValue(out double number) => number != 0,
        _ => true,
    };

    /// <summary>PEFT's <c>rank_pattern</c> or <c>alpha_pattern</c>: layer-name patterns to numbers, in file order; null when empty.</summary>
    private static Dictionary<string, T>? Pattern<T>(JsonObject config, string key, string directory)
    {
        if (config[key] is null)
        {
            return null;
        }
        PrefixLabException.Check(config[key] is JsonObject, $"'{directory}/{ConfigFile}': '{key}' must map layer names to numbers");
        var pattern = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var (name, value) in (JsonObject)config[key]!)
        {
            PrefixLabException.Check(value is JsonValue v && v.TryGetValue(out T? _), $"'{directory}/{ConfigFile}': '{key}' gives '{name}' a value that is not a number");
            pattern[name] = value!.GetValue<T>();
        }
        return pattern.Count > 0 ? pattern : null;
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

    private static (string, TuningSettings, Dictionary<string, Tensor>) PromptFromPeft(JsonObject config, Dictionary<string, Tensor> tensors, Gpt model, string directory)
    {
        var c = model.Config;
        int size = Get<int>(config, "num_virtual_tokens", directory);
        int width = Get<int>(config, "token_dim", directory);
        PrefixLabException.Check(width == c.Width, $"'{directory}' is a prompt of width {width}; the model has width {c.Width}");
        PrefixLabException.Check((config["num_transformer_submodules"]?.GetValue<int>() ?? 1) == 1, $"'{directory}': encoder-decoder prompts are not supported");
        PrefixLabException.Check(size >= 1 && size < c.BlockSize, $"'{directory}': num_virtual_tokens is {size}; the model has {c.BlockSize} positions");
        PrefixLabException.Check(tensors.TryGetValue(PromptEmbeddings, out var embeddings), $"'{directory}' has no tensor '{PromptEmbeddings}'");
        long[] expected = [size, width];
        PrefixLabException.Check(embeddings!.shape.SequenceEqual(expected),
            $"'{directory}': {PromptEmbeddings} has shape [{string.Join(", ", embeddings.shape)}], expected [{string.Join(", ", expected)}]");
        // The model adds position embeddings 0 … P−1 to PEFT's virtual tokens; PrefixLab's soft prompt is the sum.
        using var noGrad = no_grad();
        var prompt = embeddings.to_type(ScalarType.Float32) + model.PositionEmbedding[..size].to_type(ScalarType.Float32);
        return ("soft-prompt", new TuningSettings { PrefixSize = size }, new() { ["prompt.embeddings"] = prompt });
    }

    /// <summary>
    /// PEFT's <c>prompt_embeddings</c> of a soft or hard prompt: the input vectors at the prompt rows less
    /// the position embeddings the model adds there (a hard prompt's are its tokens' embeddings).
    /// </summary>
    private static Tensor PromptToPeft(ITuningMethod method, Gpt model)
    {
        if (method is HardPrompt)
        {
            using var ids = tensor(method.Settings.Tokens!.Select(t => (long)t).ToArray());
            return model.TokenEmbedding.index_select(0, ids).to_type(ScalarType.Float32).contiguous();
        }
        var positions = model.PositionEmbedding[..method.Settings.PrefixSize].to_type(ScalarType.Float32);
        return (method.SaveTensors()["prompt.embeddings"].to_type(ScalarType.Float32) - positions).contiguous();
    }

    /// <summary>The shape fields PEFT's prompt-learning configs share.</summary>
    private static void AddShape(JsonObject config, Gpt model, int size)
    {
        config["num_virtual_tokens"] = size;
        config["token_dim"] = model.Config.Width;
        config["num_layers"] = model.Config.Layers;
        config["num_attention_heads"] = model.Config.Heads;
        config["num_transformer_submodules"] = 1;
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
