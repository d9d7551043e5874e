using System.Text.Json;
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
        // exp(entropy) over 10 positions lies between 1 and 10.
        Assert.InRange(share, 0.1, 1.0);
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

    [Fact]
    public void The_checkpoint_and_the_data_go_together()
    {
        var (code, _, stderr) = CliTests.Run("reproduce", "--profile", "smoke", "--gpt2", "somewhere");
        Assert.Equal(2, code);
        Assert.Contains("--gpt2 DIR and --text-data FILE go together", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
