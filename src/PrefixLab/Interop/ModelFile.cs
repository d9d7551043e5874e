using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using PrefixLab.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>What a model file (or a Hugging Face folder) says about its model besides the weights.</summary>
/// <param name="Config">
/// The architecture, the family's own record (<see cref="GptConfig"/> for GPT), written as that record's
/// JSON; model files hold GPT models, so their metadata reads back as a <see cref="GptConfig"/>.
/// </param>
/// <param name="PrefixSize">P, the padding positions in front of each input the model was trained with.</param>
/// <param name="Task">The task it was last trained on, if any.</param>
/// <param name="Steps">Training steps it has had in its last run.</param>
/// <param name="Seed">The seed of that run.</param>
/// <param name="Precision">
/// <c>bf16</c> when that run's matrix products were bfloat16 (<see cref="Model.Precision"/>); absent for
/// float32, so float32 files read and hash as they always have.
/// </param>
public sealed record ModelInfo([property: JsonConverter(typeof(ModelConfigJson))] IModelConfig Config, int PrefixSize, string? Task = null, long Steps = 0, ulong Seed = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Precision = null)
{
    /// <summary>The <see cref="Precision"/> entry of a run in <paramref name="precision"/>: its name for bf16, null for float32.</summary>
    public static string? PrecisionEntry(Precision precision) => precision == Model.Precision.F32 ? null : precision.Name();
}

/// <summary>
/// Writes a <see cref="ModelInfo.Config"/> as its own record (so a GPT config's JSON is the
/// <see cref="GptConfig"/>'s, field for field) and reads the GPT config a model file holds.
/// </summary>
internal sealed class ModelConfigJson : JsonConverter<IModelConfig>
{
    public override IModelConfig Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        JsonSerializer.Deserialize<GptConfig>(ref reader, options) ?? throw new JsonException("the model config is null");

    public override void Write(Utf8JsonWriter writer, IModelConfig value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, value.GetType(), options);
}

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

    /// <summary>
    /// The options metadata is read with: besides <see cref="Json"/>'s names, unknown keys, duplicate
    /// keys, nulls where the type has none and missing required values are refused.
    /// </summary>
    internal static readonly JsonSerializerOptions StrictJson = new(Json)
    {
        AllowDuplicateProperties = false,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> atomically. Model files hold GPT models
    /// (the paper's and GPT-2); another family is saved as a Hugging Face folder.
    /// </summary>
    public static void Save(string path, ILanguageModel model, ModelInfo info)
    {
        PrefixLabException.Check(Holds(model) && info.Config is GptConfig,
            $"a PrefixLab model file holds a GPT model; save this {model.Family.Name} model as a Hugging Face folder");
        var tensors = model.Module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        SafeTensors.Save(path, tensors, Sealed(FileKinds.Model, JsonSerializer.Serialize(info, Json)));
    }

    /// <summary>Whether a model file can hold <paramref name="model"/>: a GPT model (the paper's or GPT-2).</summary>
    public static bool Holds(ILanguageModel model) => model.Config is GptConfig;

    /// <summary>
    /// Metadata of a PrefixLab file of <paramref name="kind"/> whose description is
    /// <paramref name="json"/>, sealed by its SHA-256 (<c>{kind}_sha256</c>): some of what the
    /// description says (heads, activation, attention scale, LoRA alpha) cannot be checked against the
    /// tensors, so an edit or corruption of it is caught by the seal instead.
    /// </summary>
    internal static Dictionary<string, string> Sealed(string kind, string json) => new()
    {
        ["format"] = Format,
        [FileKinds.Key] = kind,
        [kind] = json,
        [kind + "_sha256"] = Seal(json),
    };

    /// <summary>
    /// Refuses <paramref name="path"/> when its metadata's seal of <paramref name="kind"/> does not match
    /// the description. Files written before seals existed have none and are read without it.
    /// </summary>
    internal static void CheckSeal(string path, IReadOnlyDictionary<string, string> metadata, string kind)
    {
        if (metadata.TryGetValue(kind + "_sha256", out var seal) && seal != Seal(metadata[kind]))
        {
            throw new PrefixLabException($"'{path}': its {kind} description was changed after saving ({kind}_sha256 does not match it); its settings cannot all be checked against the tensors, so the file is refused");
        }
    }

    private static string Seal(string json) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));

    /// <summary>Reads the <see cref="ModelInfo"/> of a model file without its weights (<see cref="ModelLoader.ReadInfo"/> reads folders too).</summary>
    public static ModelInfo ReadInfo(string path) => ParseInfo(path, SafeTensors.ReadMetadata(path));

    /// <summary>
    /// Loads a PrefixLab model file, a GPT model (<see cref="ModelLoader.Load"/> loads any model, files
    /// and folders). The model comes back in evaluation mode.
    /// </summary>
    /// <remarks>
    /// The file's architecture is checked against its tensors (names, shapes, dtypes) before the model is
    /// built, so no number in the metadata sizes an allocation the file's data does not back; then each
    /// tensor is read straight into its parameter. <paramref name="options"/> say whether NaN or ±∞
    /// weights are refused (the default).
    /// </remarks>
    public static (Gpt Model, ModelInfo Info) Load(string path, LoadOptions? options = null)
    {
        PrefixLabException.Check(!Directory.Exists(path), $"'{path}' is a folder, not a PrefixLab model file");
        var header = SafeTensors.ReadHeader(path);
        var info = ParseInfo(path, header.Metadata);
        var config = (GptConfig)info.Config;
        string dtype = CheckTensors(path, header, config.ParameterShapes());
        var model = new Gpt(config);
        try
        {
            if (dtype == "F64")
            {
                model.to(ScalarType.Float64); // a float64 file (a construction) keeps its precision
            }
            using var file = TensorFiles.Open(header);
            foreach (var (name, target) in model.state_dict())
            {
                file.CopyInto(name, target, transpose: false, options);
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return (model, info);
    }

    /// <summary>
    /// Checks that <paramref name="header"/>'s tensors are exactly <paramref name="expected"/>: the same
    /// names, the same shapes, all of one float dtype, which it returns.
    /// </summary>
    private static string CheckTensors(string path, SafeTensors.Header header, IReadOnlyDictionary<string, long[]> expected)
    {
        var missing = expected.Keys.Where(k => !header.Tensors.ContainsKey(k)).ToList();
        var extra = header.Tensors.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            throw new PrefixLabException($"'{path}' does not match its model: missing [{string.Join(", ", missing.Take(3))}], unexpected [{string.Join(", ", extra.Take(3))}]");
        }
        foreach (var (name, shape) in expected)
        {
            var entry = header.Tensors[name];
            PrefixLabException.Check(entry.Shape.SequenceEqual(shape), $"'{path}': tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], the model needs [{string.Join(", ", shape)}]");
            PrefixLabException.Check(IsFloat(entry.Dtype), $"'{path}': tensor '{name}' has dtype {entry.Dtype}, not a float type");
        }
        var dtypes = header.Tensors.Values.Select(t => t.Dtype).Distinct().ToList();
        PrefixLabException.Check(dtypes.Count == 1, $"'{path}' stores its weights in {string.Join(" and ", dtypes)}; a model file holds one float type");
        return dtypes[0];
    }

    /// <summary>Whether a safetensors dtype is one of the float types weights can be loaded from.</summary>
    internal static bool IsFloat(string dtype) => dtype is "F32" or "F16" or "BF16" or "F64";

    private static ModelInfo ParseInfo(string path, IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("format", out var format) || format != Format || !metadata.TryGetValue(FileKinds.Model, out var json))
        {
            throw new PrefixLabException($"'{path}' is a safetensors file but not a PrefixLab model (no model config in its metadata)");
        }
        if (metadata.TryGetValue(FileKinds.Key, out var kind) && kind != FileKinds.Model)
        {
            throw new PrefixLabException($"'{path}' is a PrefixLab {kind}, not a model");
        }
        var info = ParseJson<ModelInfo>(path, json, "model config");
        var config = (GptConfig)info.Config;
        try
        {
            config.Validate();
        }
        catch (PrefixLabException e)
        {
            throw new PrefixLabException($"'{path}' has an impossible model config: {e.Message}");
        }
        PrefixLabException.Check(info.PrefixSize >= 0 && info.PrefixSize <= config.BlockSize, $"'{path}': prefix size must be between 0 and the block size {config.BlockSize} (got {info.PrefixSize})");
        PrefixLabException.Check(info.Steps >= 0, $"'{path}': steps must be at least 0 (got {info.Steps})");
        PrefixLabException.Check(info.Precision is null or "bf16", $"'{path}': precision must be bf16 when given (got '{info.Precision}')");
        CheckSeal(path, metadata, FileKinds.Model);
        return info;
    }

    /// <summary>
    /// Deserialises a JSON metadata value of <paramref name="path"/> strictly (<see cref="StrictJson"/>,
    /// <see cref="JsonFiles"/>); a malformed one is a one-line <see cref="PrefixLabException"/> naming
    /// <paramref name="what"/>.
    /// </summary>
    internal static T ParseJson<T>(string path, string json, string what)
    {
        JsonFiles.CheckObject(json, $"'{path}' has an unreadable {what}");
        try
        {
            return JsonSerializer.Deserialize<T>(json, StrictJson) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new PrefixLabException($"'{path}' has an unreadable {what}: {e.Message.Split('\n')[0]}");
        }
    }
}
