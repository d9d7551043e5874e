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
            // Only the GPT-2 and LLaMA studies lack a runner (and their checkpoints and data).
            bool needsCheckpoint = spec.Kind is "gpt2-prefix-spread" or "llama-identities" or "llama-completions";
            Assert.Equal(needsCheckpoint ? ExperimentStatus.NotAvailable : ExperimentStatus.Done, o.Status);
        }
        // Every metric a runner returned is one it declares, and every name it declares was returned.
        foreach (var o in first.Experiments.Where(o => o.Status == ExperimentStatus.Done))
        {
            var declared = Declarations.Metrics(specs.Single(s => s.Name == o.Name), profile);
            Assert.All(o.Metrics.Keys, name => Assert.Contains(declared, m => m.Matches(name)));
            Assert.Equal(declared.Select(m => m.Pattern).Order(), o.Metrics.Keys.Order());
        }
        var nb01 = first.Experiments.Single(o => o.Name == "nb01");
        // The base model's accuracies, decoded again one sample at a time and scored against sorts done here.
        var nb01Spec = specs.Single(s => s.Name == "nb01");
        var nb01Setup = TuningSetup.Of(nb01Spec);
        var cache = new ResultCache(Path.Combine(dir, "cache"));
        string basePath = cache.PathOf("models", CachedTraining.BaseKey(nb01Setup.Config(profile), nb01Setup.Model, nb01Setup.Pretrain, profile, 1), ".safetensors");
        var (baseModel, _) = PrefixLab.Interop.ModelFile.Load(basePath);
        using (baseModel)
        {
            baseModel.eval();
            var ascending = PrefixLab.Tasks.TaskRegistry.Default.Get("ascending");
            var inputs = PrefixLab.Evaluation.TestSet.Draw(ascending, profile.EvalSamples, 0).Inputs;
            Assert.Equal(GreedyReference.Accuracy(baseModel, 1, inputs, i => [.. i.Order()]), nb01.Metrics["pretrained/ascending"].Mean, 9);
            var descending = PrefixLab.Evaluation.TestSet.Draw(PrefixLab.Tasks.TaskRegistry.Default.Get("descending"), profile.EvalSamples, 0).Inputs;
            Assert.Equal(GreedyReference.Accuracy(baseModel, 1, descending, i => [.. i.OrderDescending()]), nb01.Metrics["pretrained/descending"].Mean, 9);
        }
        // An accuracy is a whole number of the profile's test samples.
        foreach (var metric in new[] { "full-descending/descending", "prefix-descending/descending" })
        {
            double correct = nb01.Metrics[metric].Mean * profile.EvalSamples / 100;
            Assert.Equal(Math.Round(correct), correct, 9);
        }
        // The identities hold for any prefix, trained or not: the smoke run measures them for real.
        Assert.InRange(nb01.Metrics["prefix-descending/identity-layer0"].Mean, 0, 1e-5);
        Assert.Equal(96.0, nb01.Metrics["prefix-descending/params"].Mean); // one vector of width 96
        Assert.True(nb01.Metrics["shift/descending"].Mean > 0);
        var nb04 = first.Experiments.Single(o => o.Name == "nb04");
        Assert.Equal(nb04.Metrics["prefix-histogram/params"].Mean, nb04.Metrics["lora-histogram/params"].Mean);
        // The completion count on the smoke base: its numbers decide nothing here, but must be counts and shares.
        var completions = first.Experiments.Single(o => o.Name == "completions").Metrics.ToDictionary(p => p.Key, p => p.Value.Mean);
        // The real tokens' continuations, generated again one token at a time on the cached base model.
        var countSpec = specs.Single(s => s.Name == "completions");
        var countSetup = countSpec.SetupAs<CompletionSetup>();
        var countConfig = countSetup.Model.Config(countSetup.Pretrain.Task, countSetup.Model.PrefixSize.For(profile), profile);
        var (countModel, _) = PrefixLab.Interop.ModelFile.Load(cache.PathOf("models", CachedTraining.BaseKey(countConfig, countSetup.Model, countSetup.Pretrain, profile, 1), ".safetensors"));
        using (countModel)
        {
            countModel.eval();
            var continuations = Enumerable.Range(0, 11).Select(t => string.Join(' ', GreedyReference.Continue(countModel, [t], countSetup.Continuation)));
            Assert.Equal(continuations.Distinct().Count(), completions["real/distinct"]);
        }
        Assert.True(completions["virtual/distinct"] <= completions["virtual-all/distinct"]); // the first 11 of the 16
        Assert.Equal(100 * completions["real/distinct"] / 11, completions["real/distinct-share"], 9);
        Assert.Equal(100 * completions["virtual/distinct"] / 11, completions["virtual/distinct-share"], 9);
        // The targets are distinct, so every virtual token that hits its target adds a distinct continuation.
        double hits = completions["virtual/targets-hit"] * 11 / 100;
        Assert.Equal(Math.Round(hits), hits, 9);
        Assert.True(hits <= completions["virtual/distinct"]);
        Assert.Equal(16.0, completions["virtual-all/tried"]); // the smoke profile's virtual tokens, all trained at once
        Assert.InRange(completions["virtual-all/distinct"], completions["virtual/distinct"], 16);
        // The count at V = 256 on the byte model: the real tokens' continuations generated again one token
        // at a time, set against the language's own greedy continuations.
        var bytes = first.Experiments.Single(o => o.Name == "completions-bytes").Metrics.ToDictionary(p => p.Key, p => p.Value.Mean);
        var bytesSetup = specs.Single(s => s.Name == "completions-bytes").SetupAs<CompletionSetup>();
        var bytesConfig = bytesSetup.Model.Config(bytesSetup.Pretrain.Task, 0, profile);
        var language = (PrefixLab.Tasks.TopicBytesTask)PrefixLab.Tasks.TaskRegistry.Default.Get("topic-bytes");
        var (bytesModel, _) = PrefixLab.Interop.ModelFile.Load(cache.PathOf("models", CachedTraining.BaseKey(bytesConfig, bytesSetup.Model, bytesSetup.Pretrain, profile, 1), ".safetensors"));
        using (bytesModel)
        {
            bytesModel.eval();
            Assert.Equal(256, bytesModel.Shape.VocabSize);
            var generated = Enumerable.Range(0, 256).Select(t => GreedyReference.Continue(bytesModel, [t], 10)).ToList();
            Assert.Equal(generated.Select(g => string.Join(' ', g)).Distinct().Count(), bytes["real/distinct"]);
            int matching = Enumerable.Range(0, 256).Count(t => generated[t].SequenceEqual(language.GreedyContinuation(t, 10)));
            Assert.Equal(100.0 * matching / 256, bytes["real/language-greedy"], 9);
        }
        Assert.Equal(256.0, bytes["real/tried"]);
        Assert.Equal(256.0, bytes["virtual/tried"]);
        Assert.DoesNotContain("virtual-all/tried", bytes.Keys); // the smoke profile trains exactly V virtual tokens
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
