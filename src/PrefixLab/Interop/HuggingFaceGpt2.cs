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
            int width = Int(json, "n_embd");
            int? inner = json["n_inner"]?.GetValue<int>();
            PrefixLabException.Check(inner is null || inner == 4 * width, $"'{path}': n_inner {inner} is not 4 × n_embd, which PrefixLab's MLP assumes");
            string activation = json["activation_function"]?.GetValue<string>() ?? "gelu_new";
            PrefixLabException.Check(activation is "gelu_new" or "gelu_pytorch_tanh", $"'{path}': activation '{activation}' is not GPT-2's tanh GELU (gelu_new)");
            double eps = json["layer_norm_epsilon"]?.GetValue<double>() ?? 1e-5;
            PrefixLabException.Check(Math.Abs(eps - 1e-5) < 1e-12, $"'{path}': layer_norm_epsilon {eps} is not GPT-2's 1e-5");
            PrefixLabException.Check(json["scale_attn_weights"]?.GetValue<bool>() ?? true, $"'{path}': unscaled attention (scale_attn_weights false) is not supported");
            PrefixLabException.Check(!(json["scale_attn_by_inverse_layer_idx"]?.GetValue<bool>() ?? false), $"'{path}': scale_attn_by_inverse_layer_idx is not supported");
            return new GptConfig(
                VocabSize: Int(json, "vocab_size"),
                BlockSize: json["n_positions"] is not null ? Int(json, "n_positions") : Int(json, "n_ctx"),
                Layers: Int(json, "n_layer"),
                Heads: Int(json, "n_head"),
                Width: width,
                Dropout: json["resid_pdrop"]?.GetValue<double>() ?? 0.1,
                TiedHead: json["tie_word_embeddings"]?.GetValue<bool>() ?? true).Validate();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new PrefixLabException($"'{path}' has a field of the wrong type: {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>
    /// Loads the checkpoint in <paramref name="directory"/>. The model comes back in evaluation mode,
    /// with no padding positions (<see cref="ModelInfo.PrefixSize"/> 0).
    /// </summary>
    public static (Gpt Model, ModelInfo Info) Load(string directory)
    {
        var config = ReadConfig(directory);
        var files = WeightFiles(directory).Select(TensorFiles.Open).ToList();
        try
        {
            var plan = Plan(directory, config, files);
            var model = Gpt.ForLoading(config);
            try
            {
                var state = model.state_dict();
                using var noGrad = no_grad();
                foreach (var (file, tensors) in plan)
                {
                    foreach (var (source, target) in tensors)
                    {
                        Copy(file, source, state[target], transpose: Conv1DWeights.Any(target.EndsWith));
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

    private static void Copy(ITensorFile file, string source, Tensor target, bool transpose)
    {
        if (!transpose && file.Tensors[source].Dtype == target.dtype)
        {
            file.ReadInto(source, target);
            return;
        }
        // The scope frees the transposed view too: a view left to the GC keeps the read buffer alive,
        // and with every Conv1D weight that would be a second copy of most of the model.
        using var scope = NewDisposeScope();
        var read = file.Read(source);
        target.copy_(transpose ? read.t() : read);
    }

    /// <summary>
    /// The weight files, safetensors first: a shard index, a single file, then the same for PyTorch's
    /// pickled <c>pytorch_model.bin</c>, which is read without running its pickle.
    /// </summary>
    private static List<string> WeightFiles(string directory)
    {
        foreach (var (single, index) in WeightLayouts)
        {
            string indexPath = Path.Combine(directory, index);
            if (File.Exists(indexPath))
            {
                try
                {
                    var map = JsonFiles.ReadObject(indexPath)["weight_map"]!.AsObject();
                    return [.. map.Select(kv => Path.Combine(directory, kv.Value!.GetValue<string>())).Distinct(StringComparer.Ordinal)];
                }
                catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
                {
                    throw new PrefixLabException($"'{indexPath}' has no readable weight_map: {e.Message.Split('\n')[0]}");
                }
            }
            if (File.Exists(Path.Combine(directory, single)))
            {
                return [Path.Combine(directory, single)];
            }
        }
        throw new PrefixLabException($"'{directory}' has no model.safetensors or pytorch_model.bin (nor a shard index of either)");
    }

    /// <summary>
    /// Matches every checkpoint tensor to a parameter and checks names and shapes before any weight is
    /// read, so a wrong checkpoint fails fast and whole.
    /// </summary>
    private static List<(ITensorFile File, List<(string Source, string Target)> Tensors)> Plan(string directory, GptConfig config, List<ITensorFile> files)
    {
        var expected = ExpectedShapes(config);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<(ITensorFile, List<(string, string)>)>();
        foreach (var file in files)
        {
            var tensors = new List<(string, string)>();
            foreach (var (name, entry) in file.Tensors)
            {
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
        var missing = expected.Keys.Where(k => !seen.Contains(k)).ToList();
        PrefixLabException.Check(missing.Count == 0, $"'{directory}' lacks {missing.Count} tensors of the model, e.g. '{missing.FirstOrDefault()}'");
        return plan;
    }

    /// <summary>Every parameter's name and shape, from a one-block model (blocks are all alike).</summary>
    private static Dictionary<string, long[]> ExpectedShapes(GptConfig config)
    {
        using var oneBlock = Gpt.ForLoading(config with { Layers = 1, VocabSize = 1, BlockSize = 1 });
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (name, tensor) in oneBlock.state_dict())
        {
            long[] shape = name switch
            {
                "transformer.wte.weight" or "lm_head.weight" => [config.VocabSize, config.Width],
                "transformer.wpe.weight" => [config.BlockSize, config.Width],
                _ => tensor.shape,
            };
            if (name.StartsWith("transformer.h.0.", StringComparison.Ordinal))
            {
                for (int layer = 0; layer < config.Layers; layer++)
                {
                    result[$"transformer.h.{layer}.{name["transformer.h.0.".Length..]}"] = shape;
                }
            }
            else
            {
                result[name] = shape;
            }
        }
        return result;
    }

    private static int Int(JsonObject json, string key) =>
        json[key]?.GetValue<int>() ?? throw new PrefixLabException($"config.json lacks '{key}'");
}
