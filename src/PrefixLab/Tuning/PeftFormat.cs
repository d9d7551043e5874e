using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Util;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Hugging Face PEFT's adapter layout: a directory with <c>adapter_config.json</c> and
/// <c>adapter_model.safetensors</c>. The common fields and the files are written and read here; what a
/// method's adapter holds (its <c>peft_type</c>, config fields and tensors, both ways) is the method's
/// registered <see cref="IPeftMapping"/>, documented in its own file.
/// </summary>
public static class PeftFormat
{
    /// <summary>The adapter's configuration file.</summary>
    public const string ConfigFile = "adapter_config.json";

    /// <summary>The adapter's tensors.</summary>
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>The adapter's tensors as older PEFT versions wrote them, with torch.save.</summary>
    public const string PickledWeightsFile = "adapter_model.bin";

    /// <summary>PEFT's prefix of a module's name in an adapter's tensor names.</summary>
    internal const string ModulePrefix = "base_model.model.";

    /// <summary>PEFT's name of a prompt-learning adapter's one tensor.</summary>
    internal const string PromptEmbeddings = "prompt_embeddings";

    /// <summary>The tuning methods whose adapters <see cref="Save"/> writes in PEFT's layout: those registered with a PEFT mapping.</summary>
    public static IReadOnlyList<string> SavableMethods => [.. TuningMethods.All.Where(k => k.Peft is not null).Select(k => k.Name)];

    /// <summary>Whether <paramref name="path"/> is a directory holding a PEFT adapter.</summary>
    public static bool IsPeftAdapter(string path) => Directory.Exists(path) && File.Exists(Path.Combine(path, ConfigFile));

    /// <summary>
    /// Writes an adapter attached to <paramref name="model"/> into <paramref name="directory"/> in PEFT's
    /// layout, as the method's registered <see cref="IPeftMapping"/> maps it; each file is written
    /// atomically. <paramref name="baseModel"/> goes into <c>base_model_name_or_path</c> as given: pass
    /// the name the user gave for the model (the command line passes <c>--model</c> as typed).
    /// </summary>
    public static void Save(string directory, ITuningMethod method, ILanguageModel model, string? baseModel = null)
    {
        var mapping = TuningMethods.Find(method.Name)?.Peft
            ?? throw new PrefixLabException($"PEFT's format holds {string.Join(" and ", SavableMethods)} adapters; '{method.Name}' has no PEFT counterpart");
        var config = new JsonObject
        {
            ["task_type"] = "CAUSAL_LM",
            ["inference_mode"] = true,
            ["base_model_name_or_path"] = baseModel,
            ["peft_type"] = mapping.PeftType,
        };
        Dictionary<string, Tensor> tensors;
        using (no_grad())
        {
            tensors = mapping.Export(method, model, config);
        }
        SafeTensors.Save(Path.Combine(directory, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteText(Path.Combine(directory, ConfigFile), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// Attaches the PEFT adapter in <paramref name="directory"/> to <paramref name="model"/>. PEFT files
    /// carry no fingerprint of their base weights, so only the shapes are checked. NaN or ±∞ values are
    /// refused unless <paramref name="options"/> allow them.
    /// </summary>
    public static (ITuningMethod Method, AdapterInfo Info) Load(string directory, ILanguageModel model, LoadOptions? options = null)
    {
        PrefixLabException.Check(IsPeftAdapter(directory), $"'{directory}' is not a PEFT adapter: it has no {ConfigFile}");
        var config = JsonFiles.ReadObject(Path.Combine(directory, ConfigFile));
        var tensors = ReadWeights(directory, options);
        string type = Get<string>(config, "peft_type", directory);
        var importers = TuningMethods.All.Where(k => k.Peft is { Imports: true }).ToList();
        var kind = importers.FirstOrDefault(k => k.Peft!.PeftType == type)
            ?? throw new PrefixLabException($"'{directory}': PEFT type '{type}' is not supported ({string.Join(", ", importers.Select(k => k.Peft!.PeftType))} are)");
        var (settings, mine) = kind.Peft!.Import(config, tensors, model, directory);
        var method = AdapterFile.Attach(directory, kind.Name, settings, model, mine);
        // PEFT's prompts go in front of the tokens, where PrefixLab's soft prompt replaces padding rows.
        return (method, new AdapterInfo(kind.Name, settings, AdapterFile.Fingerprint(model), method.InputPadding(0), null, 0, KvPositions.AfterPrefix));
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

    /// <summary>
    /// The module among <paramref name="modules"/> that a PEFT tensor name (less <see cref="ModulePrefix"/>
    /// and the adapter's own suffix) names: <paramref name="module"/>, or it under the model's body
    /// (<see cref="ModelFamily.Body"/>: <c>transformer.</c> for adapters made on GPT2Model rather than
    /// GPT2LMHeadModel, <c>model.</c> on LlamaModel); null when there is neither.
    /// </summary>
    internal static string? ResolveModule(string module, ISet<string> modules, ILanguageModel model)
    {
        string inBody = $"{model.Family.Body}.{module}";
        return modules.Contains(module) ? module : modules.Contains(inBody) ? inBody : null;
    }

    /// <summary>Whether a config value switches an option on: present and not false, null, 0, empty or "none".</summary>
    internal static bool IsSet(JsonNode? node) => node switch
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
    internal static Dictionary<string, T>? Pattern<T>(JsonObject config, string key, string directory)
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

    /// <summary>The shape fields PEFT's prompt-learning configs share.</summary>
    internal static void AddShape(JsonObject config, ILanguageModel model, int size)
    {
        config["num_virtual_tokens"] = size;
        config["token_dim"] = model.Shape.Width;
        config["num_layers"] = model.Shape.Layers;
        config["num_attention_heads"] = model.Shape.Heads;
        config["num_transformer_submodules"] = 1;
    }

    /// <summary>The optional <paramref name="key"/>, <paramref name="fallback"/> when absent or null.</summary>
    internal static T Get<T>(JsonObject config, string key, string directory, T fallback) =>
        config[key] is null ? fallback : Get<T>(config, key, directory);

    internal static T Get<T>(JsonObject config, string key, string directory)
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
