using System.Text.Json;
using PrefixLab.Tests.Interop;
using PrefixLab.Tests.Tasks;

namespace PrefixLab.Tests.Cli;

/// <summary><c>tune</c> and <c>eval</c> on the data people have: Parquet in the Hub's layout, JSON lines with integer labels.</summary>
public class DataCliTests
{
    [SkippableFact]
    public async Task Tune_trains_on_a_parquet_dataset_keeps_the_best_by_its_validation_split_and_eval_scores_either_split()
    {
        PythonGpt2.SkipUnlessAvailable();
        string model = PythonGpt2.SmallCheckpoint;
        string data = await HubParquet.EmotionDataset(perSplit: 5);
        string work = TestModels.TempDirectory();
        string adapter = Path.Combine(work, "kv.safetensors");

        var (code, stdout, stderr) = CliTests.Run("tune", "--model", model, "--data", data, "--method", "prefix-kv", "--prefix-size", "2",
            "--iters", "4", "--batch", "4", "--log-every", "2", "--eval-every", "2", "--keep-best", "--out", adapter);
        Assert.True(code == 0, stderr);
        Assert.Contains("kept the weights of step", stdout);
        Assert.Single(Directory.GetFiles(Path.Combine(work, "kv.tb")));
        var log = File.ReadAllLines(Path.Combine(work, "kv.log.jsonl"));
        Assert.Equal(2, log.Length);
        using (var line = JsonDocument.Parse(log[^1]))
        {
            Assert.Equal(5, line.RootElement.GetProperty("validation").GetProperty("samples").GetInt32());
            Assert.Equal(5, line.RootElement.GetProperty("eval").GetProperty("samples").GetInt32());
        }

        foreach (var split in new[] { "test", "validation" })
        {
            (code, stdout, stderr) = CliTests.Run("eval", "--model", model, "--data", data, "--adapter", adapter, "--split", split, "--json");
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            Assert.Equal(5, json.RootElement.GetProperty("samples").GetInt32());
        }

        // One file of the dataset, named by its split, trains too.
        string train = Path.Combine(data, "data", "train-00000-of-00001.parquet");
        (code, _, stderr) = CliTests.Run("tune", "--model", model, "--data", train, "--method", "soft-prompt", "--prefix-size", "1", "--iters", "2", "--batch", "2", "--no-tensorboard", "--out", Path.Combine(work, "sp.safetensors"));
        Assert.True(code == 0, stderr);
        Assert.False(Directory.Exists(Path.Combine(work, "sp.tb")));
    }

    [SkippableFact]
    public void Integer_labels_in_json_lines_take_their_names_from_the_flag_and_bad_data_exits_2()
    {
        PythonGpt2.SkipUnlessAvailable();
        string model = PythonGpt2.SmallCheckpoint;
        string work = TestModels.TempDirectory();
        string data = Path.Combine(work, "emotion.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 8).Select(i => $"{{\"text\": \"i feel {i}\", \"label\": {i % 3}, \"split\": \"{(i < 6 ? "train" : "test")}\"}}"));

        var (code, stdout, stderr) = CliTests.Run("tune", "--model", model, "--data", data, "--label-names", "sadness,joy,love", "--method", "lora",
            "--iters", "2", "--batch", "2", "--eval-samples", "2", "--out", Path.Combine(work, "lora.safetensors"));
        Assert.True(code == 0, stderr);
        Assert.Contains("emotion: ", stdout);

        (code, _, stderr) = CliTests.Run("eval", "--model", model, "--data", data, "--label-names", "sadness,joy");
        Assert.Equal(2, code);
        Assert.Contains("line 3 has label '2', not one of the 2 label numbers 0..1", stderr);
        Assert.Single(stderr.Trim().Split('\n'));

        string notParquet = Path.Combine(work, "train.parquet");
        File.WriteAllText(notParquet, "PAR1 but not really");
        (code, _, stderr) = CliTests.Run("eval", "--model", model, "--data", notParquet);
        Assert.Equal(2, code);
        Assert.Contains("train.parquet' is not a readable Parquet file", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
