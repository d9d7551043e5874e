using PrefixLab.Experiments;

namespace PrefixLab.Tests.Experiments;

/// <summary>
/// The runners of claim C1's specs on their real specs under the smoke profile, and what the engine
/// says of a spec that needs what this machine lacks. The completion count, which pretrains a base,
/// is checked in <see cref="SmokeTests"/>'s run of every spec, not run a second time here.
/// </summary>
public class RunnerTests
{
    [Fact]
    public void Every_construction_generates_its_demo_and_random_targets_exactly()
    {
        var outcome = RunSmoke("constructions");

        Assert.Equal(ExperimentStatus.Done, outcome.Status);
        foreach (var name in new[] { "unconditional", "conditional", "token-to-sequence", "pair-map" })
        {
            Assert.Equal(100.0, outcome.Metrics[$"{name}/exact"].Mean);
        }
        Assert.Contains(outcome.Notes, n => n.Contains("generated \"I love transformers!\"", StringComparison.Ordinal));
        Assert.Contains(outcome.Notes, n => n.Contains("swap-case and 3 random maps, each over all 95 user tokens: 380 of 380 exact", StringComparison.Ordinal));
        Assert.All(outcome.Rules, r => Assert.Equal(Verdict.Holds, r.Verdict));
    }

    [Fact]
    public void Virtual_tokens_reach_more_outputs_than_hard_ones_and_every_sequence_when_all_are_tried()
    {
        var outcome = RunSmoke("capacity");

        var m = outcome.Metrics.ToDictionary(p => p.Key, p => p.Value.Mean);
        Assert.Equal(94.0, m["hard/tried"]);
        // A real token's embedding carries none of the payload the construction reads, so all 94 generate
        // the sequence of the zero payload: one output.
        Assert.Equal(1.0, m["hard/distinct"]);
        Assert.Equal(100.0, m["virtual/tried"]); // the smoke profile's sample
        Assert.True(m["virtual/distinct"] > m["hard/distinct"]);
        Assert.Equal(100.0, m["virtual/distinct-share"]);
        Assert.Equal(65536.0, m["exhaustive/distinct"]);
        Assert.All(outcome.Rules, r => Assert.Equal(Verdict.Holds, r.Verdict));
    }

    [Fact]
    public void The_completion_count_shares_the_notebook_03_base_model_under_every_profile()
    {
        var specs = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory());
        var nb03 = specs.Single(s => s.Name == "nb03");
        var completions = specs.Single(s => s.Name == "completions");
        foreach (var profile in Profiles.All)
        {
            // The first work item of either plan is its base model; equal keys are one cached file.
            string baseKey = new TuningRunner().Plan(nb03, profile, 1)[0].Key;
            Assert.Equal(baseKey, new CompletionCountRunner().Plan(completions, profile, 1)[0].Key);
        }
    }

    [Fact]
    public void A_spec_that_requires_what_the_machine_lacks_says_so_instead_of_a_missing_kind()
    {
        var specs = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory());
        var spread = specs.Single(s => s.Name == "prefix-spread");
        var unknown = SpecLoader.Parse("""{ "name": "x", "title": "t", "kind": "nothing-here" }""", "test");
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("smoke"), 1);

        var outcomes = engine.Run([spread, unknown], "test").Experiments;

        Assert.All(outcomes, o => Assert.Equal(ExperimentStatus.NotAvailable, o.Status));
        Assert.StartsWith("a GPT-2 checkpoint", spread.Requires);
        Assert.Equal($"needs {spread.Requires}", outcomes[0].Message);
        Assert.Equal(Verdict.NotDecided, Assert.Single(outcomes[0].Rules).Verdict);
        Assert.Equal("kind 'nothing-here' is not available in this build", outcomes[1].Message);
    }

    [Theory]
    [InlineData("constructions", """{ "unconditional": { "vocabulary": 94, "length": 5, "target": "hello!" } }""", "needs unconditional, conditional")]
    [InlineData("constructions", """{ "unconditional": { "vocabulary": 94, "length": 3, "target": "ab~" }, "conditional": { "map": "swap-case" }, "token_to_sequence": { "length": 10 }, "pair_map": { "vocabulary": 10, "dtype": "float64" }, "random_targets": 1 }""", "past the vocabulary of 94")]
    [InlineData("constructions", """{ "unconditional": { "vocabulary": 94, "length": 2, "target": "ab" }, "conditional": { "map": "swap-case" }, "token_to_sequence": { "length": 10 }, "pair_map": { "vocabulary": 10, "dtype": "float32" }, "random_targets": 1 }""", "not exact in float32")]
    [InlineData("capacity", """{ "vocabulary": 94, "length": 20 }""", "needs vocabulary, length and samples")]
    [InlineData("capacity", """{ "vocabulary": 94, "length": 20, "samples": 10, "exhaustive": { "vocabulary": 94, "length": 20 } }""", "at most 1,000,000 sequences")]
    [InlineData("completion-count", """{ "continuation": 10, "steps": 1, "lr": 0.1 }""", "needs model, pretrain")]
    [InlineData("completion-count", "3", "needs a setup object")]
    public void Bad_setups_are_refused_with_one_line(string kind, string setup, string expected)
    {
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("smoke"), 1);

        // Loading the spec reads the setup (its runner declares its metrics from it), so a bad setup may stop it there.
        var error = Assert.Throws<PrefixLabException>(() => engine.Validate([SpecLoader.Parse($$"""{ "name": "x", "title": "t", "kind": "{{kind}}", "setup": {{setup}} }""", "test")]));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    private static ExperimentOutcome RunSmoke(string name)
    {
        var spec = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()).Single(s => s.Name == name);
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(TestModels.TempDirectory()), Profiles.Get("smoke"), 1);
        return engine.Run([spec], "test").Experiments.Single();
    }
}
