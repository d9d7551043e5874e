using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// Loads a Hugging Face GPT-2 checkpoint directory (<c>config.json</c> and <c>model.safetensors</c>, or
/// shards listed in <c>model.safetensors.index.json</c>; failing those, PyTorch's <c>pytorch_model.bin</c>
/// or its shards, read by <see cref="TorchZipCheckpoint"/>) into a <see cref="Gpt"/>: any size from gpt2
/// to gpt2-xl. GPT-2 is minGPT's architecture with a tied head, so only names and layouts differ:
/// GPT-2's Conv1D layers store weights as [in, out] and are transposed into Linear's [out, in]; the
/// causal-mask buffers (<c>attn.bias</c>, <c>attn.masked_bias</c>) are skipped. Tensors are read one at
/// a time straight into the model's parameters, so memory stays near the size of the weights.
/// </summary>
public static class HuggingFaceGpt2
{
    /// <summary>The checkpoint's configuration file.</summary>
    public const string ConfigFile = "config.json";

    private static readonly (string Single, string Index)[] WeightLayouts =
    [
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ];

    private static readonly string[] Conv1DWeights = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];
    private static readonly string[] IgnoredBuffers = [".attn.bias", ".attn.masked_bias"];

    /// <summary>Whether parameter <paramref name="name"/> is stored <c>[in, out]</c> by GPT-2's Conv1D.</summary>
    internal static bool IsConv1DWeight(string name) => Conv1DWeights.Any(name.EndsWith);

    /// <summary>Whether <paramref name="path"/> is a directory with a <c>config.json</c>.</summary>
    public static bool IsCheckpoint(string path) => Directory.Exists(path) && File.Exists(Path.Combine(path, ConfigFile));

    /// <summary>The architecture that <paramref name="directory"/>'s <c>config.json</c> describes.</summary>
    public static GptConfig ReadConfig(string directory)
    {
        string path = Path.Combine(directory, ConfigFile);
        PrefixLabException.Check(Directory.Exists(directory), $"model directory not found: '{directory}'");
        PrefixLabException.Check(File.Exists(path), $"'{directory}' is not a Hugging Face checkpoint: it has no {ConfigFile}");
        var json = JsonFiles.ReadObject(path);
        try
        {
            string type = json["model_type"]?.GetValue<string>() ?? "gpt2";
            PrefixLabException.Check(type == "gpt2", $"'{path}' describes a '{type}' model; PrefixLab loads GPT-2 checkpoints");
            int width = Int(json, path, "n_embd");
            int? inner = json["n_inner"]?.GetValue<int>();
            string activation = json["activation_function"]?.GetValue<string>() ?? "gelu_new";
            PrefixLabException.Check(activation is "gelu_new" or "gelu_pytorch_tanh", $"'{path}': activation '{activation}' is not GPT-2's tanh GELU (gelu_new)");
            double eps = json["layer_norm_epsilon"]?.GetValue<double>() ?? 1e-5;
            PrefixLabException.Check(Math.Abs(eps - 1e-5) < 1e-12, $"'{path}': layer_norm_epsilon {eps} is not GPT-2's 1e-5");
            PrefixLabException.Check(json["scale_attn_weights"]?.GetValue<bool>() ?? true, $"'{path}': unscaled attention (scale_attn_weights false) is not supported");
            PrefixLabException.Check(!(json["scale_attn_by_inverse_layer_idx"]?.GetValue<bool>() ?? false), $"'{path}': scale_attn_by_inverse_layer_idx is not supported");
            var config = new GptConfig(
                VocabSize: Int(json, path, "vocab_size"),
                BlockSize: json["n_positions"] is not null ? Int(json, path, "n_positions") : Int(json, path, "n_ctx"),
                Layers: Int(json, path, "n_layer"),
                Heads: Int(json, path, "n_head"),
                Width: width,
                Dropout: json["resid_pdrop"]?.GetValue<double>() ?? 0.1,
                TiedHead: json["tie_word_embeddings"]?.GetValue<bool>() ?? true);
            PrefixLabException.Check(inner is null || inner == 4L * width, $"'{path}': n_inner {inner} is not 4 × n_embd, which PrefixLab's MLP assumes");
            return PrefixLabException.InFile(path, config.Validate);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw new PrefixLabException($"'{path}' has a field of the wrong type: {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>
    /// Loads the checkpoint in <paramref name="directory"/>. The model comes back in evaluation mode,
    /// with no padding positions (<see cref="ModelInfo.PrefixSize"/> 0).
    /// </summary>
    /// <remarks>
    /// Every tensor's name, shape and dtype is checked against <c>config.json</c> before the model is
    /// built; NaN or ±∞ weights are refused unless <paramref name="options"/> allow them.
    /// </remarks>
    public static (Gpt Model, ModelInfo Info) Load(string directory, LoadOptions? options = null)
    {
        var config = ReadConfig(directory);
        var (paths, map) = WeightFiles(directory);
        var files = paths.Select(TensorFiles.Open).ToList();
        try
        {
            var plan = Plan(directory, config, files, map);
            var model = Gpt.ForLoading(config);
            try
            {
                var state = model.state_dict();
                using var noGrad = no_grad();
                foreach (var (file, tensors) in plan)
                {
                    foreach (var (source, target) in tensors)
                    {
                        file.CopyInto(source, state[target], transpose: Conv1DWeights.Any(target.EndsWith), options);
                    }
                }
            }
            catch
            {
                model.Dispose();
                throw;
            }
            model.eval();
            return (model, new ModelInfo(config, 0));
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }

    /// <summary>The PrefixLab parameter name of a checkpoint tensor, or null for one to skip.</summary>
    public static string? TargetName(string name, GptConfig config)
    {
        string bare = name.StartsWith("transformer.", StringComparison.Ordinal) ? name["transformer.".Length..] : name;
        if (IgnoredBuffers.Any(bare.EndsWith))
        {
            return null;
        }
        if (bare == "lm_head.weight")
        {
            return config.TiedHead ? null : bare; // a tied head is the token embedding, saved twice by some writers
        }
        return "transformer." + bare;
    }

    /// <summary>
    /// The weight files, safetensors first: a shard index, a single file, then the same for PyTorch's
    /// pickled <c>pytorch_model.bin</c>, which is read without running its pickle; and the index's
    /// tensor-to-file map when it is sharded. Shards must be plain file names inside the directory: an
    /// index is a user's file, and may not send PrefixLab to read elsewhere (<c>../x</c>, <c>/etc/passwd</c>).
    /// </summary>
    private static (List<string> Files, Dictionary<string, string>? Map) WeightFiles(string directory)
    {
        foreach (var (single, indexName) in WeightLayouts)
        {
            string index = Path.Combine(directory, indexName);
            if (File.Exists(index))
            {
                var weightMap = JsonFiles.ReadObject(index)["weight_map"] as JsonObject ?? throw new PrefixLabException($"'{index}' has no weight_map object");
                var map = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var (tensor, node) in weightMap)
                {
                    string file = node is JsonValue value && value.TryGetValue(out string? name) ? name : throw new PrefixLabException($"'{index}': weight_map entry '{tensor}' is not a file name");
                    PrefixLabException.Check(file.Length > 0 && file is not ("." or "..") && file.IndexOfAny(['/', '\\', '\0']) < 0 && !Path.IsPathRooted(file),
                        $"'{index}': shard '{file}' of tensor '{tensor}' is not a plain file name in the model directory");
                    PrefixLabException.Check(File.Exists(Path.Combine(directory, file)), $"'{index}' names shard '{file}', which is not in '{directory}'");
                    map[tensor] = file;
                }
                PrefixLabException.Check(map.Count > 0, $"'{index}' has an empty weight_map");
                return ([.. map.Values.Distinct(StringComparer.Ordinal).Select(f => Path.Combine(directory, f))], map);
            }
            if (File.Exists(Path.Combine(directory, single)))
            {
                return ([Path.Combine(directory, single)], null);
            }
        }
        throw new PrefixLabException($"'{directory}' has no model.safetensors or pytorch_model.bin (nor a shard index of either)");
    }

    /// <summary>
    /// Matches every checkpoint tensor to a parameter and checks names and shapes before any weight is
    /// read, so a wrong checkpoint fails fast and whole.
    /// </summary>
    private static List<(ITensorFile File, List<(string Source, string Target)> Tensors)> Plan(string directory, GptConfig config, List<ITensorFile> files, Dictionary<string, string>? map)
    {
        var expected = config.ParameterShapes();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<(ITensorFile, List<(string, string)>)>();
        foreach (var file in files)
        {
            var tensors = new List<(string, string)>();
            foreach (var (name, entry) in file.Tensors)
            {
                PrefixLabException.Check(map is null || (map.Remove(name, out var listed) && listed == Path.GetFileName(file.Path)),
                    $"'{file.Path}' holds tensor '{name}', which its index does not list in this shard");
                if (TargetName(name, config) is not { } target)
                {
                    continue;
                }
                PrefixLabException.Check(expected.TryGetValue(target, out var shape), $"'{file.Path}': unexpected tensor '{name}' for a GPT-2 of {config.Layers} layers");
                PrefixLabException.Check(seen.Add(target), $"'{directory}': tensor '{name}' appears twice");
                long[] stored = Conv1DWeights.Any(target.EndsWith) ? [.. shape!.Reverse()] : shape!;
                PrefixLabException.Check(entry.Shape.SequenceEqual(stored), $"'{file.Path}': tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], config.json implies [{string.Join(", ", stored)}]");
                PrefixLabException.Check(entry.Dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64, $"'{file.Path}': tensor '{name}' has dtype {entry.Dtype}, not a float type");
                tensors.Add((name, target));
            }
            plan.Add((file, tensors));
        }
        PrefixLabException.Check(map is null || map.Count == 0, $"'{directory}': the shard index lists tensor '{map?.Keys.FirstOrDefault()}' in a shard that does not hold it");
        var missing = expected.Keys.Where(k => !seen.Contains(k)).ToList();
        PrefixLabException.Check(missing.Count == 0, $"'{directory}' lacks {missing.Count} tensors of the model, e.g. '{missing.FirstOrDefault()}'");
        return plan;
    }

    private static int Int(JsonObject json, string path, string key) =>
        json[key]?.GetValue<int>() ?? throw new PrefixLabException($"'{path}' lacks '{key}'");
}
