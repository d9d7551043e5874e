using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace PrefixLab.Interop;

/// <summary>
/// Writes a model loaded from a Hugging Face folder back as a new folder in that folder's layout, as
/// <c>save_pretrained</c> writes it: <c>config.json</c> (the source's, with <c>_name_or_path</c> set to
/// the name the user gave), <c>model.safetensors</c> and the source's tokenizer files, so that the folder
/// is a checkpoint transformers and PrefixLab load. A family's writer says what its tensors and config
/// fields are (<see cref="HuggingFaceGpt2Writer"/>, <see cref="HuggingFaceLlamaWriter"/>). The folder
/// appears whole or not at all: it is written beside its place under a temporary name and renamed.
/// </summary>
public static class HuggingFaceWriter
{
    /// <summary>The tokenizer files copied from the source folder when it has them.</summary>
    public static readonly IReadOnlyList<string> TokenizerFiles =
        ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"];

    private const string WeightsFile = "model.safetensors";

    /// <summary>
    /// Refuses an output path that names a file or a non-empty folder: nothing the user has is
    /// overwritten. Call it before training, so a bad <c>--out</c> costs no run.
    /// </summary>
    public static void CheckOutput(string directory)
    {
        PrefixLabException.Check(!File.Exists(directory), $"--out '{directory}' is a file; a Hugging Face checkpoint is a folder");
        PrefixLabException.Check(!Directory.Exists(directory) || !Directory.EnumerateFileSystemEntries(directory).Any(),
            $"--out '{directory}' is a folder that is not empty; PrefixLab writes a Hugging Face checkpoint only into a new or empty folder");
    }

    /// <summary>
    /// Writes the folder <paramref name="directory"/>: <paramref name="source"/>'s config with
    /// <c>_name_or_path</c> = <paramref name="baseName"/>, then <paramref name="architecture"/>,
    /// <paramref name="modelType"/> and the dtype of the weights; <paramref name="tensors"/>; the
    /// source's tokenizer files.
    /// </summary>
    internal static void Write(string directory, string source, string baseName, string architecture, string modelType, IReadOnlyDictionary<string, Tensor> tensors)
    {
        CheckOutput(directory);
        string full = Path.GetFullPath(directory);
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true); // our own leftover from a killed run
            }
            Directory.CreateDirectory(temp);
            WriteConfig(Path.Combine(temp, HuggingFaceGpt2.ConfigFile), source, baseName, architecture, modelType, tensors.Values.First().dtype);
            SafeTensors.Save(Path.Combine(temp, WeightsFile), tensors.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), new Dictionary<string, string> { ["format"] = "pt" });
            CopyTokenizer(source, temp, baseName);
            if (Directory.Exists(full))
            {
                Directory.Delete(full); // empty, as checked; fails if something appeared in it meanwhile
            }
            Directory.Move(temp, full);
        }
        catch
        {
            if (Directory.Exists(temp))
            {
                Directory.Delete(temp, recursive: true);
            }
            throw;
        }
    }

    private static void WriteConfig(string path, string source, string baseName, string architecture, string modelType, ScalarType dtype)
    {
        // The source's own config keeps what PrefixLab does not model (token ids, task parameters).
        var json = JsonFiles.ReadObject(Path.Combine(source, HuggingFaceGpt2.ConfigFile));
        json["_name_or_path"] = baseName;
        json["architectures"] = new JsonArray(architecture);
        json["model_type"] = modelType;
        json["torch_dtype"] = TorchDtypeName(dtype);
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static void CopyTokenizer(string source, string target, string baseName)
    {
        foreach (var name in TokenizerFiles.Where(f => File.Exists(Path.Combine(source, f))))
        {
            string from = Path.Combine(source, name);
            string to = Path.Combine(target, name);
            var json = name == "tokenizer_config.json" ? JsonFiles.ReadObject(from) : null;
            if (json is not null && json.ContainsKey("name_or_path"))
            {
                json["name_or_path"] = baseName; // it may hold a path of the machine that saved it
                File.WriteAllText(to, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                File.Copy(from, to);
            }
        }
    }

    private static string TorchDtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float64 => "float64",
        _ => "float32",
    };
}
