using System.Text.Json;
using PrefixLab.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>What a model file says about its model besides the weights.</summary>
/// <param name="Config">The architecture.</param>
/// <param name="PrefixSize">P, the padding positions in front of each input the model was trained with.</param>
/// <param name="Task">The task it was last trained on, if any.</param>
/// <param name="Steps">Training steps it has had in its last run.</param>
/// <param name="Seed">The seed of that run.</param>
public sealed record ModelInfo(GptConfig Config, int PrefixSize, string? Task = null, long Steps = 0, ulong Seed = 0);

/// <summary>
/// Model files: safetensors with minGPT's tensor names, readable by any safetensors reader, whose
/// metadata carries <see cref="ModelInfo"/> so that nothing else is needed to use them.
/// </summary>
public static class ModelFile
{
    /// <summary>Value of the <c>format</c> metadata key of every PrefixLab file.</summary>
    public const string Format = "prefixlab";

    /// <summary>JSON options for the metadata: snake_case names.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, Gpt model, ModelInfo info)
    {
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        SafeTensors.Save(path, tensors, new Dictionary<string, string>
        {
            ["format"] = Format,
            ["kind"] = "model",
            ["model"] = JsonSerializer.Serialize(info, Json),
        });
    }

    /// <summary>Reads the <see cref="ModelInfo"/> of a model file (or Hugging Face GPT-2 directory) without its weights.</summary>
    public static ModelInfo ReadInfo(string path) => Directory.Exists(path)
        ? new ModelInfo(HuggingFaceGpt2.ReadConfig(path), 0)
        : ParseInfo(path, SafeTensors.ReadMetadata(path));

    /// <summary>
    /// Loads a model file, or a Hugging Face GPT-2 checkpoint when <paramref name="path"/> is a directory.
    /// The model comes back in evaluation mode.
    /// </summary>
    public static (Gpt Model, ModelInfo Info) Load(string path)
    {
        if (Directory.Exists(path))
        {
            return HuggingFaceGpt2.Load(path);
        }
        var (tensors, metadata) = SafeTensors.Load(path);
        var info = ParseInfo(path, metadata);
        var model = new Gpt(info.Config);
        if (tensors.Values.FirstOrDefault()?.dtype == ScalarType.Float64)
        {
            model.to(ScalarType.Float64); // a float64 file (a construction) keeps its precision
        }
        LoadWeights(path, model, tensors);
        model.eval();
        return (model, info);
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> into <paramref name="model"/>'s parameters, which must match
    /// them name for name and shape for shape.
    /// </summary>
    public static void LoadWeights(string path, nn.Module model, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var state = model.state_dict();
        var missing = state.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        var extra = tensors.Keys.Where(k => !state.ContainsKey(k)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new PrefixLabException($"'{path}' does not match its model: missing [{string.Join(", ", missing.Take(3))}], unexpected [{string.Join(", ", extra.Take(3))}]");
        }
        using var noGrad = no_grad();
        foreach (var (name, target) in state)
        {
            var source = tensors[name];
            if (!source.shape.SequenceEqual(target.shape))
            {
                throw new PrefixLabException($"'{path}': tensor '{name}' has shape [{string.Join(", ", source.shape)}], the model needs [{string.Join(", ", target.shape)}]");
            }
            target.copy_(source);
        }
    }

    private static ModelInfo ParseInfo(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("format", out var format) || format != Format || !metadata.TryGetValue("model", out var json))
        {
            throw new PrefixLabException($"'{path}' is a safetensors file but not a PrefixLab model (no model config in its metadata)");
        }
        if (metadata.TryGetValue("kind", out var kind) && kind != "model")
        {
            throw new PrefixLabException($"'{path}' is a PrefixLab {kind}, not a model");
        }
        var info = ParseJson<ModelInfo>(path, json, "model config");
        // JSON without a "config" leaves the non-nullable property null.
        PrefixLabException.Check(info.Config is not null, $"'{path}' has an unreadable model config: no architecture");
        info.Config!.Validate();
        return info;
    }

    /// <summary>
    /// Deserialises a JSON metadata value of <paramref name="path"/>; a malformed one is a one-line
    /// <see cref="PrefixLabException"/> naming <paramref name="what"/>.
    /// </summary>
    internal static T ParseJson<T>(string path, string json, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, Json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new PrefixLabException($"'{path}' has an unreadable {what}: {e.Message.Split('\n')[0]}");
        }
    }
}
