using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// The one place a model is loaded from what the user names: a PrefixLab model file, or a Hugging Face
/// folder whose <c>config.json</c> <c>model_type</c> chooses the family's loader. Every command, workflow
/// and <see cref="Tuning.AdaptedModel"/> loads through it, so a family added here is usable everywhere.
/// </summary>
public static class ModelLoader
{
    /// <summary>The Hugging Face families, by <c>model_type</c>: the loader and the reader of the folder's info.</summary>
    private static readonly IReadOnlyList<HuggingFaceFamily> Families =
    [
        new(["gpt2"], TakesDtype: false, (dir, options) => HuggingFaceGpt2.Load(dir, options), dir => new ModelInfo(HuggingFaceGpt2.ReadConfig(dir), 0),
            (dir, model, source) => HuggingFaceGpt2Writer.Save(dir, model as Gpt ?? throw NotOf(source), source, source)),
        new(LlamaConfig.ModelTypes, TakesDtype: true, (dir, options) => (HuggingFaceLlama.Load(dir, options, options?.Dtype ?? ScalarType.Float32), new ModelInfo(HuggingFaceLlama.ReadConfig(dir), 0)),
            dir => new ModelInfo(HuggingFaceLlama.ReadConfig(dir), 0),
            (dir, model, source) => HuggingFaceLlamaWriter.Save(dir, model as Llama ?? throw NotOf(source), source, source)),
    ];

    /// <summary>The <c>model_type</c>s a Hugging Face folder may have.</summary>
    public static IReadOnlyList<string> SupportedTypes => [.. Families.SelectMany(f => f.Types)];

    /// <summary>
    /// Loads the model at <paramref name="path"/>: a model file, or a Hugging Face folder of a supported
    /// <c>model_type</c> (a folder without one is GPT-2, as older GPT-2 folders are). The model comes back
    /// in evaluation mode; <paramref name="options"/> say whether NaN or ±∞ weights are refused and, for a
    /// family that has a choice, the compute type.
    /// </summary>
    public static (ILanguageModel Model, ModelInfo Info) Load(string path, LoadOptions? options = null)
    {
        if (!Directory.Exists(path))
        {
            CheckNoDtype(path, options);
            return ModelFile.Load(path, options);
        }
        var family = FamilyOf(path);
        if (!family.TakesDtype)
        {
            CheckNoDtype(path, options);
        }
        return family.Load(path, options);
    }

    /// <summary>What <see cref="Load"/> would return as the info of <paramref name="path"/>, without the weights.</summary>
    public static ModelInfo ReadInfo(string path) => Directory.Exists(path) ? FamilyOf(path).ReadInfo(path) : ModelFile.ReadInfo(path);

    /// <summary>
    /// Writes <paramref name="model"/> (a fine-tuned copy of the Hugging Face folder <paramref name="source"/>)
    /// into <paramref name="directory"/> in that folder's layout, by the writer of the source's family.
    /// </summary>
    public static void SaveHuggingFace(string directory, ILanguageModel model, string source)
    {
        FamilyOf(source).Save(directory, model, source);
    }

    /// <summary>The folder's <c>model_type</c> (<c>gpt2</c> when its <c>config.json</c> names none).</summary>
    public static string ModelType(string directory)
    {
        string path = Path.Combine(directory, HuggingFaceGpt2.ConfigFile);
        PrefixLabException.Check(Directory.Exists(directory), $"model directory not found: '{directory}'");
        PrefixLabException.Check(File.Exists(path), $"'{directory}' is not a Hugging Face checkpoint: it has no {HuggingFaceGpt2.ConfigFile}");
        var node = JsonFiles.ReadObject(path)["model_type"];
        try
        {
            return node?.GetValue<string>() ?? "gpt2";
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new PrefixLabException($"'{path}': model_type must be a string");
        }
    }

    private static HuggingFaceFamily FamilyOf(string directory)
    {
        string type = ModelType(directory);
        return Families.FirstOrDefault(f => f.Types.Contains(type, StringComparer.Ordinal))
            ?? throw new PrefixLabException($"'{directory}' holds a '{type}' model; PrefixLab loads {string.Join(", ", SupportedTypes)} checkpoints");
    }

    private static PrefixLabException NotOf(string source) =>
        new($"the model is not of the architecture of '{source}', so it cannot be written in its layout");

    private static void CheckNoDtype(string path, LoadOptions? options) =>
        PrefixLabException.Check(options?.Dtype is null, $"'{path}': --dtype chooses the compute type of a {string.Join("/", LlamaConfig.ModelTypes)} folder; a GPT model runs in the type it is stored in");

    private sealed record HuggingFaceFamily(
        IReadOnlyList<string> Types,
        bool TakesDtype,
        Func<string, LoadOptions?, (ILanguageModel, ModelInfo)> Load,
        Func<string, ModelInfo> ReadInfo,
        Action<string, ILanguageModel, string> Save);
}
