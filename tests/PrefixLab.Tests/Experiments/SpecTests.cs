using PrefixLab.Model;
using PrefixLab.Experiments;

namespace PrefixLab.Tests.Experiments;

/// <summary>The specs under experiments/ and the pieces that read and decide them.</summary>
public class SpecTests
{
    /// <summary>The repository's experiments/ folder, found upwards from the test binaries.</summary>
    internal static string SpecsDirectory() =>
        TestModels.AboveTestBinaries("experiments", dir => Directory.Exists(dir) && Directory.GetFiles(dir, "*.json").Length > 0);

    [Fact]
    public void Every_spec_loads_and_every_tuning_spec_validates_under_every_profile()
    {
        var specs = SpecLoader.LoadDirectory(SpecsDirectory());
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("quick"), 1);
        engine.Validate(specs);
        // Every claim of the paper is decided by some spec's rule.
        var decided = specs.SelectMany(s => s.Rules).Select(r => r.Claim).Distinct().Order().ToList();
        Assert.Equal(new[] { "C1", "C2", "C3", "C4", "C5", "C6" }, decided);
        foreach (var profile in Profiles.All)
        {
            Assert.True(new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), profile, 1).Estimate(specs) > TimeSpan.Zero);
        }
    }

    [Fact]
    public void Work_two_specs_share_is_estimated_once()
    {
        var specs = SpecLoader.LoadDirectory(SpecsDirectory());
        var nb03 = specs.Single(s => s.Name == "nb03");
        var nb04 = specs.Single(s => s.Name == "nb04");
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("quick"), 1);
        double apart = engine.Estimate([nb03]).TotalSeconds + engine.Estimate([nb04]).TotalSeconds;
        double together = engine.Estimate([nb03, nb04]).TotalSeconds;
        // In the quick profile notebook 04 reuses notebook 03's base model and histogram prefix.
        Assert.True(together < apart - 1, $"{together} vs {apart}");
        // Two seeds are two sets of models.
        var twoSeeds = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("quick"), 2);
        Assert.Equal(2 * together, twoSeeds.Estimate([nb03, nb04]).TotalSeconds, 6);
    }

    [Fact]
    public void Sized_values_fall_back_from_smoke_to_quick_to_paper()
    {
        var spec = SpecLoader.Parse("""
            { "name": "x", "title": "t", "kind": "tuning", "claims": [],
              "setup": { "model": { "layers": { "paper": 4, "quick": 2 }, "heads": 1, "width": { "paper": 64, "smoke": 16 }, "prefix_size": 1 },
                         "pretrain": { "task": "ascending", "steps": 100 }, "runs": [], "evaluate": ["ascending"] },
              "protocol": { "model/layers": 4, "evaluation/test-samples": 3200 } }
            """, "test");
        var setup = TuningSetup.Of(spec);
        Assert.Equal(4, setup.Model.Layers.For(Profiles.Get("paper")));
        Assert.Equal(2, setup.Model.Layers.For(Profiles.Get("quick")));
        Assert.Equal(2, setup.Model.Layers.For(Profiles.Get("smoke")));
        Assert.Equal(64, setup.Model.Width.For(Profiles.Get("quick")));
        Assert.Equal(16, setup.Model.Width.For(Profiles.Get("smoke")));
        // The quick profile's 2 layers against the paper's 4, and its 500 test samples against 3,200.
        Assert.Equal(["model/layers: 2 (paper 4; × 0.5)", "evaluation/test-samples: 500 (paper 3,200; × 0.156)"], Declarations.Deviations(spec, Profiles.Get("quick")));
        Assert.Empty(Declarations.Deviations(spec, Profiles.Get("paper")));
    }

    [Theory]
    [InlineData("""{ "name": "x", "title": "t", "kind": "k", "claims": ["C1"], "rules": [ { "claim": "C2", "text": "r", "all": [ { "metric": "m", "at_least": 1 } ] } ] }""", "does not list")]
    [InlineData("""{ "name": "a b", "title": "t", "kind": "k" }""", "must be letters")]
    [InlineData("""{ "name": "x", "title": "t", "kind": "k", "setup": { "model": 3 } }""", "bad setup")]
    [InlineData("""{ "name": "x" """, "not valid")]
    // A misspelt key would otherwise be dropped: here the bound, so the check would pass whatever the number.
    [InlineData("""{ "name": "x", "title": "t", "kind": "k", "claims": ["C2"], "rules": [ { "claim": "C2", "text": "r", "all": [ { "metric": "m", "at_mots": 5 } ] } ] }""", "at_mots")]
    [InlineData("""{ "name": "x", "title": "t", "kind": "k", "clams": ["C2"] }""", "clams")]
    [InlineData("""{ "name": "x", "title": "t", "kind": "tuning", "claims": [], "setup": { "model": { "layers": 1, "heads": 1, "width": 16, "prefix_size": 1, "layres": 2 }, "pretrain": { "task": "ascending", "steps": 1 }, "runs": [], "evaluate": [] } }""", "layres")]
    [InlineData("""{ "name": "x", "title": "t", "kind": "k", "claims": ["C2"], "rules": [ { "claim": "C2", "text": "r", "rationale": "x", "all": [ { "metric": "m" } ] } ] }""", "has no bound")]
    [InlineData("""{ "name": "x", "title": "t", "kind": "k", "claims": ["C2"], "rules": [ { "claim": "C2", "text": "r", "all": [ { "metric": "m", "at_most": 1 } ] } ] }""", "the rule for C2 has no rationale")]
    [InlineData("""{ "name": "x", "title": "t", "kind": "tuning", "claims": [], "setup": { "model": { "layers": 1, "heads": 1, "width": 16, "prefix_size": 1 }, "pretrain": { "task": "ascending", "steps": 1 }, "runs": [], "evaluate": [], "precision": "fp16" } }""", "precision must be f32 or bf16 (got 'fp16')")]
    public void Bad_specs_are_refused_with_one_line(string json, string expected)
    {
        var error = Assert.Throws<PrefixLabException>(() =>
        {
            var spec = SpecLoader.Parse(json, "test");
            new TuningRunner().Validate(spec);
        });
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain("\n", error.Message);
    }

    [Fact]
    public void A_bf16_setup_trains_under_keys_of_its_own_and_f32_keeps_the_keys_it_had()
    {
        string Setup(string precision) => $$"""
            { "name": "x", "title": "t", "kind": "tuning", "claims": [],
              "setup": { "model": { "layers": 1, "heads": 1, "width": 16, "prefix_size": 1 }, "pretrain": { "task": "ascending", "steps": 5 },
                         "runs": [ { "name": "p", "method": "prefix", "task": "descending", "steps": 3 } ], "evaluate": ["ascending"]{{precision}} } }
            """;
        var quick = Profiles.Get("quick");
        IReadOnlyList<string> Keys(string precision) => [.. new TuningRunner().Plan(SpecLoader.Parse(Setup(precision), "test"), quick, 1).Select(w => w.Key)];
        var absent = Keys("");
        Assert.Equal(absent, Keys(""", "precision": "f32" """));
        var bf16 = Keys(""", "precision": "bf16" """);
        // The base and the run are trained files of their own; the evaluation item is named, not hashed.
        Assert.Equal(absent.Count, bf16.Count);
        Assert.Equal(2, absent.Zip(bf16).Count(pair => pair.First != pair.Second));
        Assert.Equal(Precision.Bf16, TuningSetup.Of(SpecLoader.Parse(Setup(""", "precision": "bf16" """), "test")).TrainingPrecision);
    }

    [Fact]
    public void Rules_hold_fail_or_stay_undecided_by_the_numbers()
    {
        var rule = new ClaimRule("C4", "r", "why", [new RuleCheck("a", AtLeast: 50), new RuleCheck("b", Above: "c", Margin: 10)]);
        MetricSummary M(double v) => MetricSummary.Of([v]);
        Assert.Equal(Verdict.Holds, Rules.Decide("x", rule, new Dictionary<string, MetricSummary> { ["a"] = M(60), ["b"] = M(30), ["c"] = M(20) }).Verdict);
        Assert.Equal(Verdict.DoesNotHold, Rules.Decide("x", rule, new Dictionary<string, MetricSummary> { ["a"] = M(60), ["b"] = M(29), ["c"] = M(20) }).Verdict);
        Assert.Equal(Verdict.DoesNotHold, Rules.Decide("x", rule, new Dictionary<string, MetricSummary> { ["a"] = M(49), ["b"] = M(30) }).Verdict);
        Assert.Equal(Verdict.NotDecided, Rules.Decide("x", rule, new Dictionary<string, MetricSummary> { ["a"] = M(60), ["b"] = M(30) }).Verdict);
    }

    [Fact]
    public void An_at_most_bound_fails_a_number_above_it()
    {
        // at_most decides C2, C3, C6 and every "the prefix fails" check: its failing side must be real.
        var rule = new ClaimRule("C2", "r", "why", [new RuleCheck("error", AtMost: 1e-5)]);
        MetricSummary M(double v) => MetricSummary.Of([v]);
        Assert.Equal(Verdict.Holds, Rules.Decide("x", rule, new Dictionary<string, MetricSummary> { ["error"] = M(1e-5) }).Verdict);
        Assert.Equal(Verdict.DoesNotHold, Rules.Decide("x", rule, new Dictionary<string, MetricSummary> { ["error"] = M(1.01e-5) }).Verdict);
        Assert.Equal(Verdict.NotDecided, Rules.Decide("x", rule, new Dictionary<string, MetricSummary>()).Verdict);
    }

    [Fact]
    public void Metric_summaries_are_mean_and_sample_standard_deviation()
    {
        var m = MetricSummary.Of([1, 2, 3, 4]);
        Assert.Equal(2.5, m.Mean, 12);
        Assert.Equal(Math.Sqrt(5.0 / 3), m.Std, 12);
        Assert.Equal(0, MetricSummary.Of([7]).Std);
    }

    [Fact]
    public void Cache_keys_change_with_any_field_and_not_otherwise()
    {
        Assert.Equal(ResultCache.Key(new { a = 1, b = "x" }), ResultCache.Key(new { a = 1, b = "x" }));
        Assert.NotEqual(ResultCache.Key(new { a = 1, b = "x" }), ResultCache.Key(new { a = 2, b = "x" }));
        Assert.NotEqual(ResultCache.Key(new { a = 1, b = "x" }), ResultCache.Key(new { a = 1, b = "y" }));
    }
}
