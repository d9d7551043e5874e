using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Experiments;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Tuning;
using PrefixLab.Workflows;
using static TorchSharp.torch;
using PrefixLab.Tests.Cli;
using PrefixLab.Tests.Interop;

namespace PrefixLab.Tests.Experiments;

/// <summary>The paper's appendix experiment (C6) on a GPT-2 checkpoint and labelled texts the user names.</summary>
public class Gpt2SpreadTests
{
    [SkippableFact]
    public void Reproduce_runs_the_appendix_on_a_given_gpt2_and_data_and_decides_c6_from_it()
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = TestModels.TempDirectory();
        string data = Path.Combine(dir, "emotion.csv");
        File.WriteAllLines(data, ["text,label,split", .. Enumerable.Range(0, 16).Select(i => $"the cat sat {i},{(i % 2 == 0 ? "joy" : "anger")},{(i < 10 ? "train" : "test")}")]);
        string report = Path.Combine(dir, "report");
        string[] args = ["reproduce", "--profile", "smoke", "--only", "prefix-spread", "--specs", SpecTests.SpecsDirectory(), "--cache", Path.Combine(dir, "cache"), "--out", report, "--gpt2", PythonGpt2.SmallCheckpoint, "--text-data", data];

        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.True(code == 0, stderr);
        Assert.Matches(@"prefix-spread\s+Done", stdout);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        var experiment = json.RootElement.GetProperty("experiments").EnumerateArray().Single(e => e.GetProperty("name").GetString() == "prefix-spread");
        double share = experiment.GetProperty("metrics").GetProperty("spread-share").GetProperty("mean").GetDouble();
        Assert.Equal(SpreadShareFromTheAttention(Path.Combine(dir, "cache"), data), share, 5);
        Assert.Contains("\"claim\":\"C6\"", File.ReadAllText(Path.Combine(report, "results.json")).Replace(" ", "", StringComparison.Ordinal));

        // The second run finds the trained prefix and the result in the cache.
        (code, stdout, stderr) = CliTests.Run(args);
        Assert.True(code == 0, stderr);
        Assert.Matches(@"prefix-spread\s+Cached", stdout);

        // Other data is another experiment: nothing cached from the first file is reused.
        File.AppendAllLines(data, ["the dog sat,joy,train"]);
        (code, stdout, stderr) = CliTests.Run(args);
        Assert.True(code == 0, stderr);
        Assert.Matches(@"prefix-spread\s+Done", stdout);
    }

    /// <summary>
    /// The share worked out here from the recorded attention, apart from the runner and BiasSpan: the
    /// trained prefix from the cache on the smoke profile's test texts; per text, layer and head, the last
    /// input token's attention over the 10 prefix keys renormalised and exp of its entropy; their mean over 10.
    /// </summary>
    private static double SpreadShareFromTheAttention(string cache, string data)
    {
        string adapterPath = Directory.GetFiles(Path.Combine(cache, "runs"), "*.safetensors").Single();
        var (gpt2, info) = HuggingFaceGpt2.Load(PythonGpt2.SmallCheckpoint);
        using var model = gpt2;
        gpt2.eval();
        using var method = AdapterFile.Load(adapterPath, gpt2, AdapterFile.Fingerprint(gpt2)).Method;
        var tokenizer = Gpt2Tokenizer.Load(PythonGpt2.SmallCheckpoint);
        var samples = TaskData.Of(TextTask.Load(data), tokenizer.Encode).Samples(method.InputPadding(info.PrefixSize));
        var spreads = new List<double>();
        foreach (var sample in samples.Test.Take(Profiles.Get("smoke").AnalysisSamples))
        {
            using var tokens = samples.Prompts([sample]);
            using var recording = AttentionRecorder.Record(gpt2, tokens);
            long last = tokens.shape[1] - 1;
            foreach (var layer in recording.Layers)
            {
                // Pattern [batch, head, query, key]; prefix-kv's 10 keys come first.
                float[] rows = layer.Pattern[0, TensorIndex.Colon, last, TensorIndex.Slice(0, 10)].contiguous().data<float>().ToArray();
                foreach (var head in rows.Chunk(10))
                {
                    double mass = head.Sum(w => (double)w);
                    spreads.Add(Math.Exp(-head.Sum(w => w / mass * Math.Log(w / mass))));
                }
            }
        }
        return spreads.Average() / 10;
    }

    [Fact]
    public void The_checkpoint_and_the_data_go_together()
    {
        var (code, _, stderr) = CliTests.Run("reproduce", "--profile", "smoke", "--gpt2", "somewhere");
        Assert.Equal(2, code);
        Assert.Contains("--gpt2 DIR and --text-data FILE go together", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
