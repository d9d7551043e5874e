using System.Numerics;
using Parquet;
using Parquet.Schema;

namespace PrefixLab.Tasks;

/// <summary>
/// Labelled texts from Parquet files laid out as Hugging Face datasets publish them: a <c>text</c>
/// column, a <c>label</c> column of integers (a <c>ClassLabel</c>, named by the dataset's feature
/// description) or of strings, and one file (or several shards) per split, named after it
/// (<c>train-00000-of-00001.parquet</c>, <c>validation-…</c>, <c>test-…</c>) or kept in a folder named
/// after it (<c>default/train/0000.parquet</c>). A file of no named split may carry a <c>split</c> column.
/// </summary>
internal static class ParquetTexts
{
    /// <summary>The Parquet files <paramref name="path"/> names: the file itself, or those in the folder (or its <c>data/</c> folder).</summary>
    public static IReadOnlyList<string> Files(string path)
    {
        if (File.Exists(path))
        {
            return [path];
        }
        foreach (string folder in new[] { path, Path.Combine(path, "data") })
        {
            if (Directory.Exists(folder))
            {
                var files = Directory.GetFiles(folder, "*.parquet").Order(StringComparer.Ordinal).ToList();
                if (files.Count > 0)
                {
                    return files;
                }
            }
        }
        throw new PrefixLabException($"'{path}' holds no .parquet files (looked in it and in its data/ folder)");
    }

    /// <summary>
    /// Reads every file's examples. Integer labels are named by <paramref name="labelNames"/> when given,
    /// else by the <c>ClassLabel</c> the file's metadata or the dataset's <c>dataset_info.json</c> describes.
    /// </summary>
    public static List<TextExample> Read(IReadOnlyList<string> files, IReadOnlyList<string>? labelNames)
    {
        var examples = new List<TextExample>();
        foreach (string file in files)
        {
            examples.AddRange(ReadFile(file, labelNames));
        }
        return examples;
    }

    private static List<TextExample> ReadFile(string path, IReadOnlyList<string>? labelNames)
    {
        try
        {
            return ReadFileAsync(path, labelNames).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not PrefixLabException and (IOException or InvalidDataException or InvalidOperationException or NotSupportedException or ArgumentException or FormatException or OverflowException or IndexOutOfRangeException))
        {
            // Parquet.Net reports a file that is not Parquet, or a damaged one, with exceptions of these kinds.
            throw new PrefixLabException($"'{path}' is not a readable Parquet file: {e.Message.Split('\n')[0].Trim()}");
        }
    }

    private static async Task<List<TextExample>> ReadFileAsync(string path, IReadOnlyList<string>? labelNames)
    {
        await using var reader = await ParquetReader.CreateAsync(path);
        var text = Column(reader.Schema, "text", path);
        var label = Column(reader.Schema, "label", path);
        var splitColumn = reader.Schema.DataFields.FirstOrDefault(f => f.Path.ToString().Equals("split", StringComparison.OrdinalIgnoreCase));
        PrefixLabException.Check(IsString(text), $"'{path}': column 'text' holds {text.ClrType.Name}, not strings");
        PrefixLabException.Check(reader.Metadata?.NumRows > 0, $"'{path}' is empty (no rows)");
        bool integers = !IsString(label);
        var names = integers ? labelNames ?? ClassLabels.Find(path, reader.CustomMetadata) : null;
        PrefixLabException.Check(!integers || names is not null,
            $"'{path}' has integer labels but no label names (no ClassLabel in its metadata or a dataset_info.json): name them with --label-names a,b,c");
        DataSplit? fileSplit = ClassLabels.SplitOfFile(path);

        var examples = new List<TextExample>();
        long row = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int count = checked((int)group.RowCount);
            var texts = new string?[count];
            await group.ReadAsync(text, texts.AsMemory());
            var labels = integers ? null : new string?[count];
            var ids = integers ? await Integers(group, label, count, path) : null;
            if (labels is not null)
            {
                await group.ReadAsync(label, labels.AsMemory());
            }
            string?[]? splits = null;
            if (splitColumn is not null && fileSplit is null && IsString(splitColumn))
            {
                splits = new string?[count];
                await group.ReadAsync(splitColumn, splits.AsMemory());
            }
            for (int i = 0; i < count; i++, row++)
            {
                string where = $"'{path}' row {row + 1}";
                string body = texts[i] ?? throw new PrefixLabException($"{where} has no text");
                string? name = ids is not null ? LabelName(ids[i], names!, where) : labels![i];
                PrefixLabException.Check(!string.IsNullOrWhiteSpace(name), $"{where} has an empty label");
                DataSplit? split = fileSplit ?? (splits?[i] is { Length: > 0 } s ? TextTask.ParseSplit(s, where) : null);
                examples.Add(new TextExample(body, name!.Trim(), split));
            }
        }
        return examples;
    }

    /// <summary>UTF-8 text (Parquet.Net types it as <c>ReadOnlyMemory&lt;char&gt;</c> unless asked for strings).</summary>
    private static bool IsString(DataField field) => field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>);

    private static DataField Column(ParquetSchema schema, string name, string path)
    {
        var field = schema.DataFields.FirstOrDefault(f => f.Path.ToString().Equals(name, StringComparison.OrdinalIgnoreCase));
        if (field is null)
        {
            string present = string.Join(", ", schema.DataFields.Select(f => f.Path.ToString()));
            throw new PrefixLabException($"'{path}' has no '{name}' column (its columns: {present})");
        }
        PrefixLabException.Check(!field.IsArray, $"'{path}': column '{name}' holds lists, not one value a row");
        return field;
    }

    private static string LabelName(long? id, IReadOnlyList<string> names, string where)
    {
        PrefixLabException.Check(id is not null, $"{where} has no label");
        PrefixLabException.Check(id >= 0 && id < names.Count, $"{where} has label {id}, but the label names cover 0..{names.Count - 1} ({string.Join(", ", names)})");
        return names[(int)id!.Value];
    }

    /// <summary>A column of any integer type as longs (null where a row has none).</summary>
    private static Task<long?[]> Integers(ParquetRowGroupReader group, DataField field, int count, string path) =>
        field.ClrType switch
        {
            var t when t == typeof(long) => Read<long>(group, field, count),
            var t when t == typeof(int) => Read<int>(group, field, count),
            var t when t == typeof(short) => Read<short>(group, field, count),
            var t when t == typeof(sbyte) => Read<sbyte>(group, field, count),
            var t when t == typeof(byte) => Read<byte>(group, field, count),
            var t when t == typeof(ushort) => Read<ushort>(group, field, count),
            var t when t == typeof(uint) => Read<uint>(group, field, count),
            var t when t == typeof(ulong) => Read<ulong>(group, field, count),
            var t => throw new PrefixLabException($"'{path}': column 'label' holds {t.Name}, neither integers nor strings"),
        };

    private static async Task<long?[]> Read<T>(ParquetRowGroupReader group, DataField field, int count)
        where T : struct, IBinaryInteger<T>
    {
        if (field.IsNullable)
        {
            var nullable = new T?[count];
            await group.ReadAsync(field, nullable.AsMemory());
            return [.. nullable.Select(v => v is { } x ? long.CreateSaturating(x) : (long?)null)];
        }
        var values = new T[count];
        await group.ReadAsync(field, values.AsMemory());
        return [.. values.Select(v => (long?)long.CreateSaturating(v))];
    }
}
