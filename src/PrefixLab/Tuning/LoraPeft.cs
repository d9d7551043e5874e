using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// LoRA as PEFT's <c>LORA</c>: tensors <c>base_model.model.{module}.lora_A.weight</c> (<c>[r, in]</c>)
/// and <c>lora_B.weight</c> (<c>[out, r]</c>), which are PrefixLab's own A and B, under the module names
/// the family shares with Hugging Face (<c>transformer.h.0.mlp.c_fc</c>,
/// <c>model.layers.0.self_attn.q_proj</c>): PEFT's LoRA on GPT-2's Conv1D (<c>fan_in_fan_out</c>)
/// computes <c>B A x</c> on the input as a Linear does;
/// <c>rank_pattern</c> and <c>alpha_pattern</c> map to the same settings of PrefixLab's LoRA.
/// </summary>
internal sealed class LoraPeft : IPeftMapping
{
    /// <summary>PEFT LoRA options that change what the adapter computes and that PrefixLab's LoRA lacks.</summary>
    private static readonly (string Field, string What)[] Unsupported =
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

    /// <inheritdoc />
    public string PeftType => "LORA";

    /// <inheritdoc />
    public bool Imports => true;

    /// <inheritdoc />
    public Dictionary<string, Tensor> Export(ITuningMethod method, ILanguageModel model, JsonObject config)
    {
        var lora = (Lora)method;
        config["r"] = lora.Settings.Rank;
        config["lora_alpha"] = lora.Settings.Alpha ?? lora.Settings.Rank;
        config["lora_dropout"] = 0.0;
        config["bias"] = "none";
        config["fan_in_fan_out"] = model.Family.FanInFanOut;
        config["target_modules"] = new JsonArray([.. TargetModules(model, lora.AdaptedLayers).Select(t => (JsonNode)t)]);
        config["rank_pattern"] = JsonSerializer.SerializeToNode(lora.Settings.RankPattern ?? new Dictionary<string, int>());
        config["alpha_pattern"] = JsonSerializer.SerializeToNode(lora.Settings.AlphaPattern ?? new Dictionary<string, double>());
        return lora.SaveTensors().ToDictionary(kv => PeftFormat.ModulePrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
    }

    /// <inheritdoc />
    public (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, ILanguageModel model, string directory)
    {
        string file = $"{directory}/{PeftFormat.ConfigFile}";
        foreach (var (field, what) in Unsupported)
        {
            if (field.StartsWith("use_", StringComparison.Ordinal))
            {
                PeftFormat.Get(config, field, directory, false); // PEFT's switches are booleans: anything else is a malformed config
            }
            PrefixLabException.Check(!PeftFormat.IsSet(config[field]), $"'{file}': {field} is set ({what}); PrefixLab's LoRA does not support it");
        }
        string bias = PeftFormat.Get(config, "bias", directory, "none");
        PrefixLabException.Check(bias == "none", $"'{file}': bias is '{bias}' (trained biases); PrefixLab's LoRA supports only \"none\"");
        int rank = PeftFormat.Get<int>(config, "r", directory);
        double alpha = PeftFormat.Get<double>(config, "lora_alpha", directory);
        var rankPattern = PeftFormat.Pattern<int>(config, "rank_pattern", directory);
        var alphaPattern = PeftFormat.Pattern<double>(config, "alpha_pattern", directory);
        var linears = model.Module.named_modules().Where(m => m.module is Linear).Select(m => m.name).ToHashSet(StringComparer.Ordinal);
        var mine = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, value) in tensors)
        {
            string name = key.StartsWith(PeftFormat.ModulePrefix, StringComparison.Ordinal) ? key[PeftFormat.ModulePrefix.Length..] : key;
            name = name.Replace(".lora_A.default.", ".lora_A.", StringComparison.Ordinal).Replace(".lora_B.default.", ".lora_B.", StringComparison.Ordinal);
            PrefixLabException.Check(name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || name.EndsWith(".lora_B.weight", StringComparison.Ordinal),
                $"'{directory}': tensor '{key}' is {WhatTensor(name)}, which PrefixLab's LoRA does not support");
            string written = name[..name.LastIndexOf(".lora_", StringComparison.Ordinal)];
            string module = PeftFormat.ResolveModule(written, linears, model) ?? written;
            PrefixLabException.Check(linears.Contains(module), $"'{directory}': tensor '{key}' adapts '{module}', which is not a Linear layer of this model");
            PrefixLabException.Check(mine.TryAdd(module + name[name.LastIndexOf(".lora_", StringComparison.Ordinal)..], value), $"'{directory}': tensor '{key}' appears twice (with and without '.default')");
        }
        var modules = mine.Keys.Select(k => k[..k.LastIndexOf(".lora_", StringComparison.Ordinal)]).Distinct().Order(StringComparer.Ordinal).ToList();
        PrefixLabException.Check(modules.Count > 0, $"'{directory}' holds no LoRA weights");
        // Full layer names as targets select exactly the layers the file adapts.
        return (new LoraSettings { Rank = rank, Alpha = alpha, Targets = modules, RankPattern = rankPattern, AlphaPattern = alphaPattern }, mine);
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

    /// <summary>
    /// PEFT's <c>target_modules</c> for <paramref name="adapted"/>: the short names (<c>c_fc</c>) when
    /// PEFT's suffix match on them picks exactly these layers, otherwise the full layer names.
    /// </summary>
    private static List<string> TargetModules(ILanguageModel model, IReadOnlyList<string> adapted)
    {
        var shortNames = adapted.Select(a => a[(a.LastIndexOf('.') + 1)..]).Distinct(StringComparer.Ordinal).ToList();
        var matched = model.Module.named_modules().Where(m => m.module is Linear)
            .Select(m => m.name).Where(n => shortNames.Any(s => n == s || n.EndsWith("." + s, StringComparison.Ordinal)));
        return matched.Order(StringComparer.Ordinal).SequenceEqual(adapted.Order(StringComparer.Ordinal)) ? shortNames : [.. adapted];
    }
}
