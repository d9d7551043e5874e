using System.Text.Json.Nodes;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Interop;

/// <summary>
/// What a Hugging Face family's loader tells <see cref="HuggingFaceWeights"/> about its checkpoints.
/// </summary>
/// <param name="Model">The model the checkpoint describes, for messages (e.g. <c>a GPT-2 of 12 layers</c>).</param>
/// <param name="Shapes">Every parameter's name and shape, as the model's state dict has them.</param>
/// <param name="Target">The parameter a checkpoint tensor goes into, or null for one to skip.</param>
/// <param name="Transposed">Whether a parameter is stored transposed (GPT-2's Conv1D).</param>
internal sealed record WeightLayout(string Model, IReadOnlyDictionary<string, long[]> Shapes, Func<string, string?> Target, Func<string, bool> Transposed);

/// <summary>
/// The weights of a Hugging Face checkpoint folder, whatever the family: <c>model.safetensors</c> or its
/// shards listed in <c>model.safetensors.index.json</c>, failing those PyTorch's <c>pytorch_model.bin</c>
/// or its shards (read by <see cref="TorchZipCheckpoint"/>). Every tensor's name, shape and dtype is
/// checked before the model is built; then tensors are read one at a time straight into the model's
/// parameters, converted to their type where it differs, so memory stays near the size of the weights.
/// </summary>
internal static class HuggingFaceWeights
{
    private static readonly (string Single, string Index)[] Layouts =
    [
        ("model.safetensors", "model.safetensors.index.json"),
        ("pytorch_model.bin", "pytorch_model.bin.index.json"),
    ];

    /// <summary>
    /// Checks <paramref name="directory"/>'s weights against <paramref name="layout"/>, then builds the
    /// model with <paramref name="build"/> and reads every weight into it. NaN or ±∞ weights are refused
    /// unless <paramref name="options"/> allow them.
    /// </summary>
    public static T Load<T>(string directory, WeightLayout layout, Func<T> build, LoadOptions? options) where T : Module
    {
        var (paths, map) = Files(directory);
        var files = new List<ITensorFile>();
        try
        {
            files.AddRange(paths.Select(TensorFiles.Open));
            var plan = Plan(directory, layout, files, map);
            var model = build();
            try
            {
                var state = model.state_dict();
                using var noGrad = no_grad();
                foreach (var (file, tensors) in plan)
                {
                    foreach (var (source, target) in tensors)
                    {
                        file.CopyInto(source, state[target], transpose: layout.Transposed(target), options);
                    }
                }
            }
            catch
            {
                model.Dispose();
                throw;
            }
            return model;
        }
        finally
        {
            files.ForEach(f => f.Dispose());
        }
    }

    /// <summary>
    /// The weight files, safetensors first: a shard index, a single file, then the same for PyTorch's
    /// pickled <c>pytorch_model.bin</c>, which is read without running its pickle; and the index's
    /// tensor-to-file map when it is sharded. Shards must be plain file names inside the directory: an
    /// index is a user's file, and may not send PrefixLab to read elsewhere (<c>../x</c>, <c>/etc/passwd</c>).
    /// </summary>
    private static (List<string> Files, Dictionary<string, string>? Map) Files(string directory)
    {
        foreach (var (single, indexName) in Layouts)
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
    private static List<(ITensorFile File, List<(string Source, string Target)> Tensors)> Plan(string directory, WeightLayout layout, List<ITensorFile> files, Dictionary<string, string>? map)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var plan = new List<(ITensorFile, List<(string, string)>)>();
        foreach (var file in files)
        {
            var tensors = new List<(string, string)>();
            foreach (var (name, entry) in file.Tensors)
            {
                PrefixLabException.Check(map is null || (map.Remove(name, out var listed) && listed == Path.GetFileName(file.Path)),
                    $"'{file.Path}' holds tensor '{name}', which its index does not list in this shard");
                if (layout.Target(name) is not { } target)
                {
                    continue;
                }
                PrefixLabException.Check(layout.Shapes.TryGetValue(target, out var shape), $"'{file.Path}': unexpected tensor '{name}' for {layout.Model}");
                PrefixLabException.Check(seen.Add(target), $"'{directory}': tensor '{name}' appears twice");
                long[] stored = layout.Transposed(target) ? [.. shape!.Reverse()] : shape!;
                PrefixLabException.Check(entry.Shape.SequenceEqual(stored), $"'{file.Path}': tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], config.json implies [{string.Join(", ", stored)}]");
                PrefixLabException.Check(entry.Dtype is ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64, $"'{file.Path}': tensor '{name}' has dtype {entry.Dtype}, not a float type");
                tensors.Add((name, target));
            }
            plan.Add((file, tensors));
        }
        PrefixLabException.Check(map is null || map.Count == 0, $"'{directory}': the shard index lists tensor '{map?.Keys.FirstOrDefault()}' in a shard that does not hold it");
        var missing = layout.Shapes.Keys.Where(k => !seen.Contains(k)).ToList();
        PrefixLabException.Check(missing.Count == 0, $"'{directory}' lacks {missing.Count} tensors of the model, e.g. '{missing.FirstOrDefault()}'");
        return plan;
    }
}
