using System.Diagnostics;
using System.Text.Json;
using PrefixLab.Experiments;
using PrefixLab.Reporting;
using PrefixLab.Tests.Cli;
using Xunit.Abstractions;

namespace PrefixLab.Tests.Experiments;

/// <summary>
/// The smoke profile end to end: every spec through the engine, the report, and a rerun from the cache.
/// It checks the pipeline, not the paper's claims.
/// </summary>
public class SmokeTests(ITestOutputHelper output)
{
    [Fact]
    public void Smoke_profile_runs_every_spec_writes_the_report_and_reruns_from_the_cache()
    {
        string dir = TestModels.TempDirectory();
        var specs = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory());
        var profile = Profiles.Get("smoke");
        var clock = Stopwatch.StartNew();
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(Path.Combine(dir, "cache")), profile, 1);
        var first = engine.Run(specs, "test");
        output.WriteLine($"smoke run: {clock.Elapsed.TotalSeconds:F1} s");

        foreach (var o in first.Experiments)
        {
            var spec = specs.Single(s => s.Name == o.Name);
            // Only the GPT-2 study lacks a runner (and its checkpoint and data).
            Assert.Equal(spec.Kind == "gpt2-prefix-spread" ? ExperimentStatus.NotAvailable : ExperimentStatus.Done, o.Status);
        }
        var nb01 = first.Experiments.Single(o => o.Name == "nb01");
        foreach (var metric in new[] { "pretrained/ascending", "full-descending/descending", "prefix-descending/descending" })
        {
            Assert.InRange(nb01.Metrics[metric].Mean, 0, 100);
        }
        // The identities hold for any prefix, trained or not: the smoke run measures them for real.
        Assert.InRange(nb01.Metrics["prefix-descending/identity-layer0"].Mean, 0, 1e-5);
        Assert.Equal(96.0, nb01.Metrics["prefix-descending/params"].Mean); // one vector of width 96
        Assert.True(nb01.Metrics["shift/descending"].Mean > 0);
        var nb04 = first.Experiments.Single(o => o.Name == "nb04");
        Assert.Equal(nb04.Metrics["prefix-histogram/params"].Mean, nb04.Metrics["lora-histogram/params"].Mean);
        // The completion count on the smoke base: its numbers decide nothing here, but must be counts and shares.
        var completions = first.Experiments.Single(o => o.Name == "completions").Metrics.ToDictionary(p => p.Key, p => p.Value.Mean);
        Assert.InRange(completions["real/distinct"], 1, 11);
        Assert.InRange(completions["virtual/distinct"], 1, 11);
        Assert.Equal(100 * completions["real/distinct"] / 11, completions["real/distinct-share"], 9);
        Assert.Equal(100 * completions["virtual/distinct"] / 11, completions["virtual/distinct-share"], 9);
        Assert.InRange(completions["virtual/targets-hit"], 0, 100);
        Assert.Equal(16.0, completions["virtual-all/tried"]); // the smoke profile's virtual tokens, all trained at once
        Assert.InRange(completions["virtual-all/distinct"], completions["virtual/distinct"], 16);
        Assert.Contains(first.Claims, c => c.Claim == "C6" && c.Rules.Any(r => r.Experiment == "prefix-spread" && r.Verdict == Verdict.NotDecided));

        string report = Path.Combine(dir, "report");
        ReproductionReport.Write(report, first);
        string html = File.ReadAllText(Path.Combine(report, "index.html"));
        Assert.Contains("data:image/png;base64,", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("src=\"figures/", html); // self-contained
        string markdown = File.ReadAllText(Path.Combine(report, "report.md"));
        foreach (var link in System.Text.RegularExpressions.Regex.Matches(markdown, @"\]\((figures/[^)]+)\)").Select(m => m.Groups[1].Value))
        {
            Assert.True(File.Exists(Path.Combine(report, link)), link);
        }
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "results.json")));
        Assert.Equal(specs.Count, json.RootElement.GetProperty("experiments").GetArrayLength());

        // A rerun takes everything from the cache and measures the same numbers.
        var again = new Engine(Engine.BuiltInRunners, new ResultCache(Path.Combine(dir, "cache")), profile, 1);
        var second = again.Run(specs, "test");
        Assert.Equal(0, again.SeedsRun);
        Assert.All(second.Experiments.Where(o => o.Status != ExperimentStatus.NotAvailable), o => Assert.Equal(ExperimentStatus.Cached, o.Status));
        Assert.Equal(nb01.Metrics["prefix-descending/descending"].Mean, second.Experiments.Single(o => o.Name == "nb01").Metrics["prefix-descending/descending"].Mean);
    }

    [Fact]
    public void A_killed_reproduce_resumes_without_redoing_finished_experiments()
    {
        string dir = TestModels.TempDirectory();
        string cache = Path.Combine(dir, "cache");
        string[] args = ["reproduce", "--profile", "smoke", "--only", "nb01,nb02", "--specs", SpecTests.SpecsDirectory(), "--cache", cache, "--out", Path.Combine(dir, "report")];

        // Kill the run as soon as the first experiment's result is stored.
        using var process = CliTests.Start(args);
        _ = process.StandardOutput.ReadToEndAsync(); // drained, so a full pipe never blocks the run
        _ = process.StandardError.ReadToEndAsync();
        string results = Path.Combine(cache, "results");
        var clock = Stopwatch.StartNew();
        while (!(Directory.Exists(results) && Directory.GetFiles(results, "*.json").Length > 0) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            Thread.Sleep(50);
        }
        bool killed = !process.HasExited;
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        Assert.True(killed, "the run ended before it could be killed");
        Assert.False(File.Exists(Path.Combine(dir, "report", "results.json")));

        var (code, stdout, stderr) = CliTests.Run(args);
        Assert.True(code == 0, stderr);
        output.WriteLine(stdout);
        Assert.Matches(@"nb01\s+Cached", stdout);
        Assert.Matches(@"nb02\s+Done", stdout);
        Assert.Contains("ran 1 experiment seed(s)", stdout);
        Assert.True(File.Exists(Path.Combine(dir, "report", "index.html")));
    }
}
