using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// Loads a Hugging Face checkpoint folder of the Llama family (<c>model_type</c> llama, mistral or
/// qwen2: Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2) into a <see cref="Llama"/>: <c>config.json</c>
/// and <c>model.safetensors</c> or its shards, stored in float32, float16 or bfloat16. The model is
/// built in the chosen compute type without initial weights and every tensor is read straight into
/// it (converted on the way when its stored type differs), so memory stays near the weights in that
/// type. Names are Hugging Face's own, so no tensor is renamed or transposed.
/// </summary>
public static class HuggingFaceLlama
{
    /// <summary>Whether <paramref name="path"/> is a folder whose <c>config.json</c> names a Llama-family <c>model_type</c>.</summary>
    public static bool IsCheckpoint(string path)
    {
        string config = Path.Combine(path, HuggingFaceGpt2.ConfigFile);
        if (!Directory.Exists(path) || !File.Exists(config))
        {
            return false;
        }
        try
        {
            return JsonFiles.ReadObject(config)["model_type"] is JsonValue type && type.TryGetValue(out string? name) && LlamaConfig.ModelTypes.Contains(name);
        }
        catch (PrefixLabException)
        {
            return false; // not readable as JSON: whichever loader takes it reports why
        }
    }

    /// <summary>The architecture that <paramref name="directory"/>'s <c>config.json</c> describes.</summary>
    public static LlamaConfig ReadConfig(string directory)
    {
        string path = Path.Combine(directory, HuggingFaceGpt2.ConfigFile);
        PrefixLabException.Check(Directory.Exists(directory), $"model directory not found: '{directory}'");
        PrefixLabException.Check(File.Exists(path), $"'{directory}' is not a Hugging Face checkpoint: it has no {HuggingFaceGpt2.ConfigFile}");
        var json = JsonFiles.ReadObject(path);
        try
        {
            string type = json["model_type"]?.GetValue<string>() ?? throw new PrefixLabException($"'{path}' lacks 'model_type'");
            PrefixLabException.Check(LlamaConfig.ModelTypes.Contains(type), $"'{path}' describes a '{type}' model; the Llama family covers {string.Join(", ", LlamaConfig.ModelTypes)}");
            string activation = json["hidden_act"]?.GetValue<string>() ?? "silu";
            PrefixLabException.Check(activation == "silu", $"'{path}': hidden_act '{activation}' is not the SwiGLU MLP's silu");
            PrefixLabException.Check(!(json["mlp_bias"]?.GetValue<bool>() ?? false), $"'{path}': MLP biases (mlp_bias true) are not supported");
            int heads = Int(json, path, "num_attention_heads");
            bool attentionBias = json["attention_bias"]?.GetValue<bool>() ?? false;
            // rope_parameters is the newer spelling of rope_theta and rope_scaling together.
            var rope = json["rope_parameters"] as JsonObject;
            var config = new LlamaConfig(
                VocabSize: Int(json, path, "vocab_size"),
                Positions: Int(json, path, "max_position_embeddings"),
                Layers: Int(json, path, "num_hidden_layers"),
                Heads: heads,
                KeyValueHeads: json["num_key_value_heads"]?.GetValue<int>() ?? heads,
                Width: Int(json, path, "hidden_size"),
                MlpWidth: Int(json, path, "intermediate_size"),
                HeadDimension: json["head_dim"]?.GetValue<int>(),
                RmsNormEps: json["rms_norm_eps"]?.GetValue<double>() ?? 1e-6,
                RopeTheta: (rope?["rope_theta"] ?? json["rope_theta"])?.GetValue<double>() ?? 10000,
                Scaling: Scaling(path, rope ?? json["rope_scaling"] as JsonObject),
                // Qwen2's q/k/v projections always have biases and its o_proj never; Llama's
                // attention_bias puts one on all four; Mistral has none.
                QkvBias: type == "qwen2" || attentionBias,
                OutputBias: type == "llama" && attentionBias,
                TiedHead: json["tie_word_embeddings"]?.GetValue<bool>() ?? false,
                SlidingWindow: Window(json, type),
                AttentionDropout: json["attention_dropout"]?.GetValue<double>() ?? 0,
                ModelType: type);
            return PrefixLabException.InFile(path, config.Validate);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException or JsonException)
        {
            throw new PrefixLabException($"'{path}' has a field of the wrong type: {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>
    /// Loads the checkpoint in <paramref name="directory"/> with weights in <paramref name="dtype"/>
    /// (float32 or bfloat16; float16 and float64 too). The model comes back in evaluation mode. Every
    /// tensor's name, shape and dtype is checked against <c>config.json</c> before the model is built;
    /// NaN or ±∞ weights are refused unless <paramref name="options"/> allow them.
    /// </summary>
    public static Llama Load(string directory, LoadOptions? options = null, ScalarType dtype = ScalarType.Float32)
    {
        var config = ReadConfig(directory);
        var layout = new WeightLayout($"a {config.ModelType} model of {config.Layers} layers", config.ParameterShapes(), name => TargetName(name, config), _ => false);
        var model = HuggingFaceWeights.Load(directory, layout, () => Llama.ForLoading(config, dtype), options);
        model.eval();
        return model;
    }

    /// <summary>
    /// The parameter a checkpoint tensor goes into: its own name, except a tied head's copy of the
    /// embedding and the rotary frequency buffers some writers save, which are skipped.
    /// </summary>
    public static string? TargetName(string name, LlamaConfig config) =>
        (name == "lm_head.weight" && config.TiedHead) || name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) ? null : name;

    /// <summary>The config's rotary scaling; a type PrefixLab does not compute is refused by name.</summary>
    private static RopeScaling? Scaling(string path, JsonObject? scaling)
    {
        if (scaling is null)
        {
            return null;
        }
        string type = (scaling["rope_type"] ?? scaling["type"])?.GetValue<string>() ?? "default";
        if (type == "default")
        {
            return null;
        }
        PrefixLabException.Check(RopeScaling.Types.Contains(type), $"'{path}': rope_scaling type '{type}' is not supported (PrefixLab computes {string.Join(" and ", RopeScaling.Types)})");
        double factor = scaling["factor"]?.GetValue<double>() ?? throw new PrefixLabException($"'{path}': rope_scaling '{type}' lacks 'factor'");
        return type == "linear"
            ? new RopeScaling(type, factor)
            : new RopeScaling(type, factor,
                scaling["low_freq_factor"]?.GetValue<double>() ?? 1,
                scaling["high_freq_factor"]?.GetValue<double>() ?? 4,
                scaling["original_max_position_embeddings"]?.GetValue<int>() ?? 8192);
    }

    /// <summary>Mistral's window; Qwen2's only when <c>use_sliding_window</c> turns it on; Llama has none.</summary>
    private static int? Window(JsonObject json, string type) => type switch
    {
        "mistral" => json["sliding_window"]?.GetValue<int>(),
        "qwen2" when json["use_sliding_window"]?.GetValue<bool>() ?? false => json["sliding_window"]?.GetValue<int>(),
        _ => null,
    };

    private static int Int(JsonObject json, string path, string key) => HuggingFaceGpt2.Int(json, path, key);
}
