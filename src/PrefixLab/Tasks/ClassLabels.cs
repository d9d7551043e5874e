using System.Text.Json;

namespace PrefixLab.Tasks;

/// <summary>
/// What a Hugging Face dataset says about its files: the names of a <c>ClassLabel</c> feature (in the
/// Parquet schema's <c>huggingface</c> key-value metadata, or in <c>dataset_info.json</c> /
/// <c>dataset_infos.json</c> beside the data) and the split a file's name or folder gives it.
/// </summary>
internal static class ClassLabels
{
    /// <summary>The Parquet key-value metadata key under which the <c>datasets</c> library stores the features.</summary>
    public const string MetadataKey = "huggingface";

    private static readonly string[] InfoFiles = ["dataset_info.json", "dataset_infos.json"];

    /// <summary>
    /// The names of the <c>label</c> feature of the dataset <paramref name="parquetPath"/> belongs to:
    /// from the file's own metadata, else from a dataset info file in its folder or up to two folders
    /// above it (<c>data/train-*.parquet</c>, <c>default/train/0000.parquet</c>); null when none says.
    /// </summary>
    public static IReadOnlyList<string>? Find(string parquetPath, IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.TryGetValue(MetadataKey, out var json))
        {
            var names = Parse(json, $"'{parquetPath}' (its '{MetadataKey}' metadata)");
            if (names is not null)
            {
                return names;
            }
        }
        var folder = new DirectoryInfo(Path.GetDirectoryName(Path.GetFullPath(parquetPath))!);
        for (int up = 0; up <= 2 && folder is not null; up++, folder = folder.Parent)
        {
            foreach (string name in InfoFiles)
            {
                string info = Path.Combine(folder.FullName, name);
                if (File.Exists(info))
                {
                    return Parse(File.ReadAllText(info), $"'{info}'");
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The label names in a dataset description: <c>{"info": {"features": …}}</c> (Parquet metadata),
    /// <c>{"features": …}</c> (<c>dataset_info.json</c>) or <c>{"config": {"features": …}}</c>
    /// (<c>dataset_infos.json</c>, the first configuration that has them). Null when the label is not a <c>ClassLabel</c>.
    /// </summary>
    public static IReadOnlyList<string>? Parse(string json, string where)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            PrefixLabException.Check(root.ValueKind == JsonValueKind.Object, $"{where} is not a JSON object");
            if (root.TryGetProperty("info", out var info) && info.ValueKind == JsonValueKind.Object)
            {
                root = info;
            }
            IEnumerable<JsonElement> candidates = root.TryGetProperty("features", out _)
                ? [root]
                : root.EnumerateObject().Select(p => p.Value).Where(v => v.ValueKind == JsonValueKind.Object && v.TryGetProperty("features", out _));
            foreach (var candidate in candidates)
            {
                if (Names(candidate.GetProperty("features"), where) is { } names)
                {
                    return names;
                }
            }
            return null;
        }
        catch (JsonException e)
        {
            throw new PrefixLabException($"{where} is not valid JSON: {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>The split a file's name (<c>train-00000-of-00001.parquet</c>) or else its folder (<c>train/0000.parquet</c>) names.</summary>
    public static DataSplit? SplitOfFile(string path)
    {
        string name = Path.GetFileNameWithoutExtension(path);
        string first = name.Split('-', '.', '_')[0];
        return TextTask.SplitNamed(first) ?? TextTask.SplitNamed(Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? "");
    }

    private static IReadOnlyList<string>? Names(JsonElement features, string where)
    {
        // The datasets library writes the features as an object keyed by column name.
        JsonElement? label = features.ValueKind == JsonValueKind.Object
            ? features.EnumerateObject().Where(p => p.Name.Equals("label", StringComparison.OrdinalIgnoreCase)).Select(p => (JsonElement?)p.Value).FirstOrDefault()
            : null;
        if (label is not { ValueKind: JsonValueKind.Object } l || !l.TryGetProperty("names", out var names))
        {
            return null;
        }
        PrefixLabException.Check(names.ValueKind == JsonValueKind.Array && names.GetArrayLength() > 0 && names.EnumerateArray().All(n => n.ValueKind == JsonValueKind.String),
            $"{where}: the label feature's 'names' is not a non-empty list of strings");
        return [.. names.EnumerateArray().Select(n => n.GetString()!)];
    }
}
