using System.Text.Json;

namespace PrefixLab.Tests.Cli;

public class BenchCliTests
{
    [Fact]
    public void Bench_json_reports_the_issue_keys_and_with_repeat_each_run_and_their_medians()
    {
        var (code, stdout, stderr) = CliTests.Run("bench", "--steps", "1", "--repeat", "2", "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(["run 1 of 2", "run 2 of 2"], stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var json = JsonDocument.Parse(stdout);
        var root = json.RootElement;
        // Each key with the rounding unit of the report, which bounds the gap between the rounded median
        // and the mean of the rounded runs.
        (string Key, double Unit)[] keys =
        [
            ("nb01_train_ms", 0.01), ("nb03_train_ms", 0.01), ("nb03_eval_samples_per_s", 1), ("matmul_peak_gflops", 0.1),
            ("nb03_train_gflops", 0.01), ("nb03_peak_fraction", 0.001), ("nb03_eval_ms_per_sample", 0.001),
            ("nb01_bf16_train_ms", 0.01), ("nb03_bf16_train_ms", 0.01),
        ];
        var runs = root.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(2, runs.Count);
        Assert.Equal(2, root.GetProperty("repeat").GetInt32());
        foreach (var (key, unit) in keys)
        {
            double a = runs[0].GetProperty(key).GetDouble(), b = runs[1].GetProperty(key).GetDouble();
            Assert.True(a > 0 && b > 0, key);
            // The median of two runs is their mean.
            Assert.Equal((a + b) / 2, root.GetProperty(key).GetDouble(), unit);
        }
        Assert.True(root.GetProperty("nb03_phases_ms").GetProperty("backward").GetDouble() > 0);

        // Without a reference, no reference figures.
        Assert.False(root.TryGetProperty("nb03_train_speedup", out _));

        (code, _, stderr) = CliTests.Run("bench", "--repeat", "0");
        Assert.Equal(2, code);
        Assert.Contains("--repeat must be between 1 and 100", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }

    [Fact]
    public void A_missing_reference_script_is_one_line_and_exit_2_before_anything_is_timed()
    {
        var (code, stdout, stderr) = CliTests.Run("bench", "--steps", "1", "--reference", "/nonexistent/bench.py");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("no reference script at '/nonexistent/bench.py'", Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
