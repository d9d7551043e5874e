using System.Diagnostics;
using System.Text.Json;
using Parquet;
using Parquet.Schema;
using PrefixLab.Tasks;

namespace PrefixLab.Tests.Tasks;

/// <summary>
/// Text tasks from Parquet files in the layout Hugging Face publishes datasets in (dair-ai/emotion:
/// integer labels, a ClassLabel naming them, one file per split), written by Parquet.Net and by an
/// independent writer (hyparquet-writer, run by node).
/// </summary>
public class ParquetTextTests
{
    [Fact]
    public async Task A_hub_layout_folder_gives_named_labels_and_its_three_splits()
    {
        var task = TextTask.Load(await HubParquet.EmotionDataset(perSplit: 7));
        Assert.Equal(21, task.Examples.Count);
        Assert.Equal(new TextExample("i feel validation 5", "surprise", DataSplit.Validation), task.Examples[19]); // files in name order: test, train, validation
        Assert.Equal(new TextExample("i feel test 6", "sadness", DataSplit.Test), task.Examples[6]);
        Assert.Equal(7, task.Examples.Count(e => e.Split == DataSplit.Train));
        Assert.Equal([.. HubParquet.Emotions.Order(StringComparer.Ordinal)], task.Labels);

        var samples = TextSamples.Encode(task, t => [.. t.Select(c => c % 11)], paddingRows: 1);
        Assert.Equal((7, 7, 7), (samples.Train.Count, samples.Validation.Count, samples.Test.Count));
    }

    [Fact]
    public async Task Names_come_from_dataset_info_json_or_from_the_user()
    {
        string root = TestModels.TempDirectory();
        string file = Path.Combine(root, "data", "train-00000-of-00001.parquet");
        await HubParquet.WriteParquet(file, ["a", "b", "c"], [2, 0, 1]); // no metadata in the file
        File.WriteAllText(Path.Combine(root, "dataset_info.json"), $"{{\"description\": \"\", \"features\": {HubParquet.Features(["neg", "neu", "pos"])}}}");
        Assert.Equal(["pos", "neg", "neu"], TextTask.Load(file).Examples.Select(e => e.Label));
        Assert.Equal(["z", "x", "y"], TextTask.Load(file, labelNames: ["x", "y", "z"]).Examples.Select(e => e.Label));

        // The user's names win over the file's own ClassLabel too, and name integer labels in JSON lines.
        string meta = Path.Combine(root, "m.parquet");
        await HubParquet.WriteParquet(meta, ["a"], [1], HubParquet.HuggingFaceMetadata(HubParquet.Emotions));
        Assert.Equal("joy", TextTask.Load(meta).Examples[0].Label);
        Assert.Equal("b", TextTask.Load(meta, labelNames: ["a", "b"]).Examples[0].Label);
        string jsonl = Path.Combine(root, "t.jsonl");
        File.WriteAllText(jsonl, "{\"text\": \"hi\", \"label\": 3, \"split\": \"validation\"}\n");
        Assert.Equal(new TextExample("hi", "anger", DataSplit.Validation), TextTask.Load(jsonl, labelNames: HubParquet.Emotions).Examples[0]);
    }

    [Fact]
    public async Task Bad_parquet_files_are_refused_with_one_line_naming_the_file()
    {
        string root = TestModels.TempDirectory();
        string notParquet = Path.Combine(root, "train-0.parquet");
        File.WriteAllText(notParquet, "text,label\nhello,1\n");
        string empty = Path.Combine(root, "empty.parquet");
        await HubParquet.WriteParquet(empty, [], []);
        string outOfRange = Path.Combine(root, "range.parquet");
        await HubParquet.WriteParquet(outOfRange, ["a", "b"], [1, 6], HubParquet.HuggingFaceMetadata(HubParquet.Emotions));
        string unnamed = Path.Combine(root, "unnamed.parquet");
        await HubParquet.WriteParquet(unnamed, ["a"], [0]);
        string noLabel = Path.Combine(root, "nolabel.parquet");
        await using (var stream = File.Create(noLabel))
        {
            var field = new DataField<string>("sentence");
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(field), stream);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(field, ["x"]);
        }

        AssertRefused(notParquet, null, "is not a readable Parquet file");
        AssertRefused(empty, null, "is empty (no rows)");
        AssertRefused(outOfRange, null, "row 2 has label 6, but the label names cover 0..5 (sadness, joy, love, anger, fear, surprise)");
        AssertRefused(outOfRange, ["a"], "row 1 has label 1, but the label names cover 0..0 (a)");
        AssertRefused(unnamed, null, "no label names");
        AssertRefused(noLabel, null, "has no 'text' column (its columns: sentence)");
        AssertRefused(root + "/nothing-here", null, "file not found");
        AssertRefused(TestModels.TempDirectory(), null, "holds no .parquet files");
    }

    [SkippableFact]
    public async Task A_file_from_an_independent_writer_reads_the_same()
    {
        string root = TestModels.TempDirectory();
        string[] texts = ["i didnt feel humiliated", "i am ever feeling nostalgic", "im grabbing a minute", "ünïcödé ✓ feels", "i feel romantic", "i am scared"];
        long[] labels = [0, 0, 3, 2, 2, 4];
        string ours = Path.Combine(root, "ours", "test-00000-of-00001.parquet");
        await HubParquet.WriteParquet(ours, texts, labels, HubParquet.HuggingFaceMetadata(HubParquet.Emotions));
        string theirs = Path.Combine(root, "theirs", "test-00000-of-00001.parquet");
        Directory.CreateDirectory(Path.GetDirectoryName(theirs)!);
        NodeParquet.Write(theirs, texts, labels, "INT64", HubParquet.HuggingFaceMetadata(HubParquet.Emotions), rowGroupSize: 4);

        var expected = TextTask.Load(ours).Examples;
        Assert.Equal(["sadness", "sadness", "anger", "love", "love", "fear"], expected.Select(e => e.Label));
        Assert.Equal(expected, TextTask.Load(theirs).Examples);
        Assert.All(TextTask.Load(theirs).Examples, e => Assert.Equal(DataSplit.Test, e.Split));

        string int32 = Path.Combine(root, "int32.parquet");
        NodeParquet.Write(int32, texts, labels, "INT32", null, rowGroupSize: 100);
        Assert.Equal(expected.Select(e => e.Label), TextTask.Load(int32, labelNames: HubParquet.Emotions).Examples.Select(e => e.Label));
        string strings = Path.Combine(root, "strings.parquet");
        NodeParquet.Write(strings, texts, labels.Select(l => (object)HubParquet.Emotions[l]).ToArray(), "STRING", null, rowGroupSize: 100);
        Assert.Equal(expected.Select(e => e.Label), TextTask.Load(strings).Examples.Select(e => e.Label));
    }

    private static void AssertRefused(string path, string[]? names, string expected)
    {
        var e = Assert.Throws<PrefixLabException>(() => TextTask.Load(path, labelNames: names));
        Assert.Contains(expected, e.Message);
        Assert.Contains(Path.GetFileName(path.TrimEnd('/')), e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

/// <summary>Parquet files in the Hugging Face layout, written with Parquet.Net.</summary>
internal static class HubParquet
{
    /// <summary>The emotion dataset's six classes, in its ClassLabel order.</summary>
    public static readonly string[] Emotions = ["sadness", "joy", "love", "anger", "fear", "surprise"];

    /// <summary>The features as the datasets library writes them, with the label a ClassLabel.</summary>
    public static string Features(IEnumerable<string> names) =>
        JsonSerializer.Serialize(new { text = new { dtype = "string", _type = "Value" }, label = new { names, _type = "ClassLabel" } });

    /// <summary>The Parquet key-value metadata the datasets library writes: {"info": {"features": …}}.</summary>
    public static Dictionary<string, string> HuggingFaceMetadata(IEnumerable<string> names) =>
        new() { ["huggingface"] = $"{{\"info\": {{\"features\": {Features(names)}}}}}" };

    /// <summary>Writes <paramref name="texts"/> and integer <paramref name="labels"/> with Parquet.Net, in row groups of <paramref name="groupSize"/>.</summary>
    public static async Task WriteParquet(string path, string[] texts, long[] labels, Dictionary<string, string>? metadata = null, int groupSize = int.MaxValue)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var text = new DataField<string>("text");
        var label = new DataField<long>("label");
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(text, label), stream);
        if (metadata is not null)
        {
            writer.CustomMetadata = metadata;
        }
        for (int from = 0; from < texts.Length; from += groupSize)
        {
            int count = Math.Min(groupSize, texts.Length - from);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(text, texts[from..(from + count)]);
            await group.WriteAsync<long>(label, labels[from..(from + count)]);
        }
    }

    /// <summary>
    /// A small emotion-like dataset in the Hub's layout: <c>data/{split}-00000-of-00001.parquet</c> with
    /// the ClassLabel in each file's metadata; returns the folder.
    /// </summary>
    public static async Task<string> EmotionDataset(int perSplit = 6)
    {
        string root = TestModels.TempDirectory();
        foreach (var split in new[] { "train", "validation", "test" })
        {
            var texts = Enumerable.Range(0, perSplit).Select(i => $"i feel {split} {i}").ToArray();
            var labels = Enumerable.Range(0, perSplit).Select(i => (long)(i % Emotions.Length)).ToArray();
            await HubParquet.WriteParquet(Path.Combine(root, "data", $"{split}-00000-of-00001.parquet"), texts, labels, HubParquet.HuggingFaceMetadata(HubParquet.Emotions), groupSize: 4);
        }
        return root;
    }
}

/// <summary>tests/node/write_parquet.mjs: Parquet files written by hyparquet-writer (.ci/run installs it with npm).</summary>
internal static class NodeParquet
{
    public static void Write(string path, string[] texts, long[] labels, string labelType, Dictionary<string, string>? metadata, int rowGroupSize) =>
        Write(path, texts, [.. labels.Cast<object>()], labelType, metadata, rowGroupSize);

    public static void Write(string path, string[] texts, object[] labels, string labelType, Dictionary<string, string>? metadata, int rowGroupSize)
    {
        string script = TestModels.AboveTestBinaries(Path.Combine("tests", "node", "write_parquet.mjs"), File.Exists);
        Skip.IfNot(Directory.Exists(Path.Combine(Path.GetDirectoryName(script)!, "node_modules", "hyparquet-writer")),
            "needs node and hyparquet-writer: npm ci --prefix tests/node (.ci/run does)");
        string spec = path + ".spec.json";
        File.WriteAllText(spec, JsonSerializer.Serialize(new { path, texts, labels, label_type = labelType, metadata, row_group_size = rowGroupSize }));
        var start = new ProcessStartInfo("node", [script, spec]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"write_parquet.mjs failed: {stderr}");
    }
}
