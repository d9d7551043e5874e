using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Experiments;
using PrefixLab.Tests.Cli;
using PrefixLab.Tests.Experiments;
using Xunit.Abstractions;

namespace PrefixLab.Tests.Llama;

/// <summary>
/// <c>reproduce --llama DIR</c> on a small random Llama made by the independent PyTorch reference: the
/// paper's two LLaMA experiments give numbers beside the paper's, a killed count resumes to the same
/// result, and a bad folder is one line.
/// </summary>
public class LlamaReproduceTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Both_experiments_run_on_a_Llama_folder_and_the_report_puts_the_papers_numbers_beside_ours()
    {
        string dir = PythonLlama.Checkpoint();
        string work = TestModels.TempDirectory();
        string report = Path.Combine(work, "report");
        var (code, stdout, stderr) = CliTests.Run("reproduce", "--profile", "smoke", "--only", "llama-identities,llama-completions", "--specs", SpecTests.SpecsDirectory(),
            "--cache", Path.Combine(work, "cache"), "--out", report, "--llama", dir, "--llama-virtual-tokens", "24", "--llama-length", "6");
        Assert.True(code == 0, stderr);
        output.WriteLine(stdout);
        Assert.Matches(@"llama-identities\s+Done", stdout);
        Assert.Matches(@"llama-completions\s+Done", stdout);
        Assert.Contains("real tokens 300/300", stderr); // the progress display

        var metrics = Metrics(report);
        var identities = metrics["llama-identities"];
        // float32 rounding at layer 0, far below the paper's fp16 errors; the virtual tokens are attended.
        Assert.InRange(identities["layer-0/attention-error"], 0, 1e-5);
        Assert.InRange(identities["layer-0/bias-error"], 0, 1e-4);
        Assert.InRange(identities["all-layers/own-attention-error"], 0, 1e-5);
        Assert.True(identities["prefix-mass"] > 1e-3);
        var count = metrics["llama-completions"];
        Assert.Equal(300, count["real/tried"]);
        Assert.InRange(count["real/distinct"], 1, 300);
        Assert.Equal(24, count["virtual/tried"]);
        Assert.InRange(count["virtual/distinct"], 1, 24);
        Assert.Equal(100 * count["real/distinct"] / 300, count["real/distinct-share"], 9);

        string markdown = File.ReadAllText(Path.Combine(report, "report.md"));
        Assert.Contains("| real/distinct | " + count["real/distinct"].ToString(System.Globalization.CultureInfo.InvariantCulture) + " |", markdown);
        Assert.Contains("| 24426 |", markdown);
        Assert.Contains("| 4.88E-04 |", markdown);
        Assert.Contains("virtual-tokens: 24 (paper 48,218", markdown);
        Assert.Contains("continuation: 6 (paper 10", markdown);
    }

    [SkippableFact]
    public void A_killed_count_resumes_from_its_partial_file_to_the_count_of_an_uninterrupted_run()
    {
        string dir = PythonLlama.Checkpoint();
        string work = TestModels.TempDirectory();
        // The count in small batches and chunks, so that a kill falls between two of them.
        string specs = Directory.CreateDirectory(Path.Combine(work, "specs")).FullName;
        var spec = JsonNode.Parse(File.ReadAllText(Path.Combine(SpecTests.SpecsDirectory(), "12-llama-completions.json")))!.AsObject();
        spec["setup"]!["batch"] = 16;
        spec["setup"]!["chunk"] = 4;
        spec["setup"]!["steps"] = 10;
        File.WriteAllText(Path.Combine(specs, "12-llama-completions.json"), spec.ToJsonString());
        string[] Args(string name) => ["reproduce", "--profile", "smoke", "--specs", specs, "--cache", Path.Combine(work, name), "--out", Path.Combine(work, name + "-report"), "--llama", dir, "--llama-virtual-tokens", "120", "--llama-length", "4"];

        using (var process = CliTests.Start(Args("killed")))
        {
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            string runs = Path.Combine(work, "killed", "runs");
            var clock = Stopwatch.StartNew();
            while (VirtualDone(runs) < 8 && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
            {
                Thread.Sleep(20);
            }
            bool killed = !process.HasExited;
            process.Kill(entireProcessTree: true); // SIGKILL: no chance to tidy up
            process.WaitForExit();
            Assert.True(killed, "the run ended before it could be killed");
            int done = VirtualDone(runs);
            output.WriteLine($"killed after {done} virtual tokens");
            Assert.InRange(done, 8, 119);
        }
        var (code, stdout, stderr) = CliTests.Run(Args("killed"));
        Assert.True(code == 0, stderr);
        // The resumed run starts with the chunk after the last one stored: no real token again.
        Assert.DoesNotContain("real tokens", stderr);
        Assert.DoesNotContain("training virtual tokens 1–4 of", stderr);

        (code, _, stderr) = CliTests.Run(Args("whole"));
        Assert.True(code == 0, stderr);
        Assert.Equal(Metrics(Path.Combine(work, "whole-report"))["llama-completions"], Metrics(Path.Combine(work, "killed-report"))["llama-completions"]);
        Assert.Empty(Directory.GetFiles(Path.Combine(work, "killed", "runs"), "*.count.json")); // done: the partial file is gone
    }

    [SkippableFact]
    public void A_missing_folder_or_a_GPT2_folder_given_as_llama_is_one_line_and_exit_code_2()
    {
        string work = TestModels.TempDirectory();
        string gpt2 = Directory.CreateDirectory(Path.Combine(work, "gpt2")).FullName;
        File.WriteAllText(Path.Combine(gpt2, "config.json"), """{"model_type": "gpt2", "n_layer": 2}""");
        foreach (var (llama, expected) in new[] { (Path.Combine(work, "missing"), "folder not found"), (gpt2, "is a gpt2 checkpoint") })
        {
            var (code, stdout, stderr) = CliTests.Run("reproduce", "--profile", "smoke", "--specs", SpecTests.SpecsDirectory(), "--cache", Path.Combine(work, "cache"), "--out", Path.Combine(work, "report"), "--llama", llama);
            Assert.Equal(2, code);
            Assert.Contains(expected, Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            Assert.Empty(stdout);
        }
        var run = CliTests.Run("reproduce", "--profile", "smoke", "--out", Path.Combine(work, "report"), "--llama-length", "5");
        Assert.Equal(2, run.Code);
        Assert.Contains("go with --llama DIR", Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(Directory.Exists(Path.Combine(work, "report")));
    }

    [Fact]
    public void Without_llama_its_experiments_are_not_run_and_leave_the_claims_to_the_experiments_that_ran()
    {
        var specs = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()).Where(s => s.Name is "constructions" or "llama-completions").ToList();
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("smoke"), 1);
        var run = engine.Run(specs, "test");
        var llama = run.Experiments.Single(o => o.Name == "llama-completions");
        Assert.Equal(ExperimentStatus.NotAvailable, llama.Status);
        Assert.Equal("needs a Llama-family Hugging Face checkpoint (reproduce --llama DIR), and this machine has none", llama.Message);
        var c1 = run.Claims.Single(c => c.Claim == "C1");
        Assert.Contains(c1.Rules, r => r.Experiment == "llama-completions" && r.Verdict == Verdict.NotDecided);
        var ran = c1.Rules.Where(r => r.Experiment == "constructions").Select(r => r.Verdict).Aggregate(Rules.Combine);
        Assert.Equal(Verdict.Holds, ran);
        Assert.Equal(ran, c1.Verdict);
    }

    [Fact]
    public void A_required_experiment_that_did_not_run_leaves_its_claim_not_decided()
    {
        // prefix-spread (the GPT-2 appendix) is C6's own evidence and not optional: without --gpt2, C6 is
        // not decided even though the notebook-03 analogue's rule could decide it alone.
        var all = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory());
        Assert.False(all.Single(s => s.Name == "prefix-spread").Optional);
        Assert.True(all.Single(s => s.Name == "llama-completions").Optional);
        Assert.True(all.Single(s => s.Name == "llama-identities").Optional);
        // A copy of the constructions spec whose rules (which hold in the smoke profile) bear on C6 instead
        // of C1: beside it, the not-run prefix-spread must still leave C6 not decided.
        string dir = TestModels.TempDirectory();
        var constructions = JsonNode.Parse(File.ReadAllText(Path.Combine(SpecTests.SpecsDirectory(), "06-constructions.json")))!.AsObject();
        File.WriteAllText(Path.Combine(dir, "06-constructions.json"), constructions.ToJsonString().Replace("\"C1\"", "\"C6\"", StringComparison.Ordinal));
        File.Copy(Path.Combine(SpecTests.SpecsDirectory(), "09-prefix-spread.json"), Path.Combine(dir, "09-prefix-spread.json"));
        var specs = SpecLoader.LoadDirectory(dir);
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("smoke"), 1);
        var run = engine.Run(specs, "test");
        Assert.Equal(ExperimentStatus.NotAvailable, run.Experiments.Single(o => o.Name == "prefix-spread").Status);
        var c6 = run.Claims.Single(c => c.Claim == "C6");
        Assert.Equal(Verdict.Holds, c6.Rules.Where(r => r.Experiment == "constructions").Select(r => r.Verdict).Aggregate(Rules.Combine));
        Assert.Equal(Verdict.NotDecided, c6.Verdict);
    }

    /// <summary>The virtual tokens a partial-result file under <paramref name="runs"/> holds (0 when there is none).</summary>
    private static int VirtualDone(string runs)
    {
        var file = Directory.Exists(runs) ? Directory.GetFiles(runs, "*.count.json").FirstOrDefault() : null;
        try
        {
            return file is null ? 0 : JsonDocument.Parse(File.ReadAllText(file)).RootElement.GetProperty("virtual").GetArrayLength();
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return 0; // replaced while being read: look again
        }
    }

    /// <summary>Each experiment's metric means in a report's results.json.</summary>
    private static Dictionary<string, Dictionary<string, double>> Metrics(string report)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        return json.RootElement.GetProperty("experiments").EnumerateArray()
            .Where(e => e.TryGetProperty("metrics", out var m) && m.ValueKind == JsonValueKind.Object)
            .ToDictionary(
                e => e.GetProperty("name").GetString()!,
                e => e.GetProperty("metrics").EnumerateObject().ToDictionary(m => m.Name, m => m.Value.GetProperty("mean").GetDouble()));
    }
}
