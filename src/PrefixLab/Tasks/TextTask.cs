using System.Text;
using System.Text.Json;

namespace PrefixLab.Tasks;

/// <summary>One labelled text.</summary>
/// <param name="Text">The text.</param>
/// <param name="Label">Its class.</param>
/// <param name="Split">The split the file assigns it to, if it names one (<c>train</c>, <c>validation</c> or <c>test</c>).</param>
public sealed record TextExample(string Text, string Label, DataSplit? Split = null);

/// <summary>
/// Text classification from a user's file, laid out as the companion code lays out emotion
/// classification for GPT-2: the prompt <c>TEXT: {text} EMOTION:</c> and the answer <c> {label}</c>,
/// which the model must produce greedily. The file is JSON lines (<c>{"text": …, "label": …}</c>),
/// CSV with a header naming <c>text</c> and <c>label</c> columns, or Parquet as Hugging Face publishes
/// datasets (<see cref="ParquetTexts"/>: integer labels named by the dataset's <c>ClassLabel</c>); an
/// optional <c>split</c> field (<c>train</c>/<c>validation</c>/<c>test</c>) or a Parquet file named after
/// its split fixes the split, otherwise a hash of the text decides between train and test.
/// </summary>
public sealed class TextTask
{
    private TextTask(string name, IReadOnlyList<TextExample> examples, string labelName)
    {
        Name = name;
        Examples = examples;
        LabelName = labelName;
    }

    /// <summary>The file's name without its extension.</summary>
    public string Name { get; }

    /// <summary>The examples, in file order.</summary>
    public IReadOnlyList<TextExample> Examples { get; }

    /// <summary>The word before the answer (<c>EMOTION</c> by default).</summary>
    public string LabelName { get; }

    /// <summary>The distinct labels, sorted.</summary>
    public IReadOnlyList<string> Labels => [.. Examples.Select(e => e.Label).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>
    /// Reads a JSON-lines (<c>.jsonl</c>), CSV (<c>.csv</c>) or Parquet (<c>.parquet</c>, or a folder of
    /// them) file of texts and labels. <paramref name="labelNames"/> names integer labels by position
    /// (label <c>i</c> is <c>labelNames[i]</c>), before any names the dataset gives.
    /// </summary>
    public static TextTask Load(string path, string labelName = "EMOTION", IReadOnlyList<string>? labelNames = null)
    {
        PrefixLabException.Check(File.Exists(path) || Directory.Exists(path), $"file not found: '{path}'");
        PrefixLabException.Check(labelNames is null || (labelNames.Count > 0 && labelNames.All(n => n.Trim().Length > 0)), "--label-names must name every label (got an empty name)");
        string extension = Path.GetExtension(path).ToLowerInvariant();
        var examples = Directory.Exists(path) ? ParquetTexts.Read(ParquetTexts.Files(path), labelNames) : extension switch
        {
            ".jsonl" or ".json" => ReadJsonLines(path, labelNames),
            ".csv" => ReadCsv(path, labelNames),
            ".parquet" => ParquetTexts.Read([path], labelNames),
            _ => throw new PrefixLabException($"'{path}': text tasks are read from .jsonl, .csv or .parquet files (or a folder of .parquet files)"),
        };
        PrefixLabException.Check(examples.Count > 0, $"'{path}' holds no examples");
        string name = Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(path));
        return new TextTask(name, examples, labelName);
    }

    /// <summary>The split <paramref name="name"/> names: <c>train</c>, <c>validation</c> or <c>test</c>; else an error naming <paramref name="where"/>.</summary>
    internal static DataSplit ParseSplit(string name, string where) =>
        SplitNamed(name) ?? throw new PrefixLabException($"{where}: split '{name}' is none of 'train', 'validation', 'test'");

    /// <summary>The split <paramref name="name"/> names, or null when it names none.</summary>
    internal static DataSplit? SplitNamed(string name) => name.Trim().ToLowerInvariant() switch
    {
        "train" => DataSplit.Train,
        "validation" => DataSplit.Validation,
        "test" => DataSplit.Test,
        _ => null,
    };

    /// <summary>The prompt the model continues.</summary>
    public string Prompt(string text) => $"TEXT: {text} {LabelName}:";

    /// <summary>The continuation that counts as right.</summary>
    public static string Answer(string label) => " " + label;

    private static List<TextExample> ReadJsonLines(string path, IReadOnlyList<string>? labelNames)
    {
        var examples = new List<TextExample>();
        int number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                using var json = JsonDocument.Parse(line);
                var fields = json.RootElement.EnumerateObject().ToDictionary(p => p.Name.ToLowerInvariant(), p => p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText());
                examples.Add(Example(fields, $"'{path}' line {number}", labelNames));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                throw new PrefixLabException($"'{path}' line {number} is not a JSON object: {e.Message.Split('\n')[0]}");
            }
        }
        return examples;
    }

    private static List<TextExample> ReadCsv(string path, IReadOnlyList<string>? labelNames)
    {
        var rows = CsvRows(File.ReadAllText(path), path).ToList();
        PrefixLabException.Check(rows.Count > 0, $"'{path}' is empty");
        var header = rows[0].Select(h => h.Trim().ToLowerInvariant()).ToList();
        var examples = new List<TextExample>();
        for (int r = 1; r < rows.Count; r++)
        {
            if (rows[r].Count == 1 && rows[r][0].Length == 0)
            {
                continue; // blank line
            }
            PrefixLabException.Check(rows[r].Count == header.Count, $"'{path}' row {r + 1} has {rows[r].Count} fields, the header {header.Count}");
            examples.Add(Example(header.Zip(rows[r]).ToDictionary(p => p.First, p => p.Second), $"'{path}' row {r + 1}", labelNames));
        }
        return examples;
    }

    private static TextExample Example(Dictionary<string, string> fields, string where, IReadOnlyList<string>? labelNames)
    {
        if (!fields.TryGetValue("text", out var text) || !fields.TryGetValue("label", out var label))
        {
            throw new PrefixLabException($"{where} lacks a 'text' or a 'label' field");
        }
        PrefixLabException.Check(!string.IsNullOrWhiteSpace(label), $"{where} has an empty label");
        if (labelNames is not null)
        {
            // Integer labels in a text file, named by the user as a Parquet file's are by its ClassLabel.
            PrefixLabException.Check(int.TryParse(label.Trim(), System.Globalization.CultureInfo.InvariantCulture, out int id) && id >= 0 && id < labelNames.Count,
                $"{where} has label '{label.Trim()}', not one of the {labelNames.Count} label numbers 0..{labelNames.Count - 1} that --label-names names");
            label = labelNames[id];
        }
        DataSplit? split = fields.TryGetValue("split", out var s) && s.Length > 0 ? ParseSplit(s, where) : null;
        return new TextExample(text, label.Trim(), split);
    }

    /// <summary>RFC 4180 fields: commas, double quotes around fields, "" for a quote, newlines inside quotes.</summary>
    private static IEnumerable<List<string>> CsvRows(string content, string path)
    {
        var row = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < content.Length; i++)
        {
            char c = content[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < content.Length && content[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"' && field.Length == 0)
            {
                quoted = true;
            }
            else if (c == ',')
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (c is '\n' or '\r')
            {
                if (c == '\r' && i + 1 < content.Length && content[i + 1] == '\n')
                {
                    i++;
                }
                row.Add(field.ToString());
                field.Clear();
                yield return row;
                row = [];
            }
            else
            {
                field.Append(c);
            }
        }
        PrefixLabException.Check(!quoted, $"'{path}' ends inside a quoted field");
        if (field.Length > 0 || row.Count > 0)
        {
            row.Add(field.ToString());
            yield return row;
        }
    }
}
