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
        var layout = new WeightLayout($"a GPT-2 of {config.Layers} layers", config.ParameterShapes(), name => TargetName(name, config), IsConv1DWeight);
        var model = HuggingFaceWeights.Load(directory, layout, () => Gpt.ForLoading(config), options);
        model.eval();
        return (model, new ModelInfo(config, 0));
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

    /// <summary>The whole number <paramref name="key"/> of config <paramref name="path"/>; its absence is refused.</summary>
    internal static int Int(JsonObject json, string path, string key) =>
        json[key]?.GetValue<int>() ?? throw new PrefixLabException($"'{path}' lacks '{key}'");
}
