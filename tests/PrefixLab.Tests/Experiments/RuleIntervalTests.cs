using PrefixLab.Experiments;

namespace PrefixLab.Tests.Experiments;

/// <summary>
/// Rules decided on 95% intervals, every check kind on its passing, failing and undecided side; the
/// interval arithmetic against closed forms and published values; and specs naming metrics or settings
/// no runner has.
/// </summary>
public class RuleIntervalTests
{
    private const double Z = 1.959963984540054;

    /// <summary>Wilson's upper end for 0 of n, in percent: the closed form z² / (n + z²).</summary>
    private static double UpperAtZero(int n) => 100 * Z * Z / (n + (Z * Z));

    private static Verdict Decide(RuleCheck check, params (string Name, MetricSummary Summary)[] metrics) =>
        Rules.Decide("x", new ClaimRule("C4", "r", "why", [check]), metrics.ToDictionary(m => m.Name, m => m.Summary)).Verdict;

    [Fact]
    public void Wilson_intervals_match_the_closed_form_at_zero_and_the_textbook_value_at_one_half()
    {
        var (low, high) = Intervals.Wilson(0, 32);
        Assert.Equal(0, low);
        Assert.Equal(UpperAtZero(32) / 100, high, 12); // 10.72%
        // 50 of 100: the Wilson interval is [0.4038, 0.5962] (e.g. Newcombe 1998, Table I's method 3).
        (low, high) = Intervals.Wilson(50, 100);
        Assert.Equal(0.4038, low, 4);
        Assert.Equal(0.5962, high, 4);
    }

    [Fact]
    public void T_quantiles_are_the_table_values_and_the_expansion_past_the_table()
    {
        Assert.Equal(12.706, Intervals.T(1), 3);
        Assert.Equal(4.303, Intervals.T(2), 3);
        Assert.Equal(2.042, Intervals.T(30), 3);
        Assert.Equal(2.021, Intervals.T(40), 3); // t(0.975, 40) = 2.0211
        Assert.Equal(1.984, Intervals.T(100), 3); // t(0.975, 100) = 1.9840
    }

    [Fact]
    public void Seeds_without_a_sampling_model_give_a_t_interval_and_one_seed_gives_the_value()
    {
        // Values 10, 20, 30: mean 20, s = 10, half-width t(2) · 10 / √3 = 4.3027 · 5.7735 = 24.84.
        var m = MetricSummary.Of([10, 20, 30]);
        Assert.Equal(20 - 24.842, m.Low, 2);
        Assert.Equal(20 + 24.842, m.High, 2);
        var one = MetricSummary.Of([0.44]);
        Assert.Equal((0.44, 0.44), (one.Low, one.High));
    }

    [Fact]
    public void An_accuracy_of_one_seed_has_its_binomial_interval_and_equal_seeds_the_pooled_one()
    {
        var one = MetricSummary.Of([0], trials: 500);
        Assert.Equal(0, one.Low);
        Assert.Equal(UpperAtZero(500), one.High, 12); // 0.76%
        // Three seeds at 0% of 500 each pool to 0 of 1,500; the seeds agree, so no seed term.
        var three = MetricSummary.Of([0, 0, 0], trials: 500);
        Assert.Equal(UpperAtZero(1500), three.High, 9);
    }

    [Fact]
    public void At_least_holds_fails_or_is_undecided_by_where_the_interval_lies()
    {
        var check = new RuleCheck("a", AtLeast: 50);
        Assert.Equal(Verdict.Holds, Decide(check, ("a", MetricSummary.Of([60], trials: 3200)))); // [58.3, 61.7]
        Assert.Equal(Verdict.DoesNotHold, Decide(check, ("a", MetricSummary.Of([40], trials: 3200)))); // [38.3, 41.7]
        Assert.Equal(Verdict.NotDecided, Decide(check, ("a", MetricSummary.Of([52], trials: 100)))); // [42.3, 61.5]
        Assert.Equal(Verdict.NotDecided, Decide(check, ("b", MetricSummary.Of([60]))));
    }

    [Fact]
    public void At_most_holds_fails_or_is_undecided_by_where_the_interval_lies()
    {
        var check = new RuleCheck("a", AtMost: 5);
        // 0 of 500: upper end 0.76% ≤ 5; 0 of 32: upper end 10.7%, across 5; 10% of 3,200: [9.0, 11.1] > 5.
        Assert.Equal(Verdict.Holds, Decide(check, ("a", MetricSummary.Of([0], trials: 500))));
        Assert.Equal(Verdict.NotDecided, Decide(check, ("a", MetricSummary.Of([0], trials: 32))));
        Assert.Equal(Verdict.DoesNotHold, Decide(check, ("a", MetricSummary.Of([10], trials: 3200))));
        // Without a sampling model the seeds decide: 0.4, 0.5, 0.6 straddle 0.5; 0.6, 0.61, 0.62 lie above it.
        var share = new RuleCheck("s", AtMost: 0.5);
        Assert.Equal(Verdict.NotDecided, Decide(share, ("s", MetricSummary.Of([0.4, 0.5, 0.6]))));
        Assert.Equal(Verdict.DoesNotHold, Decide(share, ("s", MetricSummary.Of([0.6, 0.61, 0.62]))));
        Assert.Equal(Verdict.Holds, Decide(share, ("s", MetricSummary.Of([0.3, 0.31, 0.32]))));
    }

    [Fact]
    public void Above_holds_fails_or_is_undecided_by_the_interval_of_the_difference()
    {
        var check = new RuleCheck("a", Above: "b", Margin: 10);
        var zero = MetricSummary.Of([0], trials: 500);
        // 16.2% against 0% of 500: the difference's lower end is 16.2 − √(3.1² + 0.76²) ≈ 13 ≥ 10.
        Assert.Equal(Verdict.Holds, Decide(check, ("a", MetricSummary.Of([16.2], trials: 500)), ("b", zero)));
        Assert.Equal(Verdict.NotDecided, Decide(check, ("a", MetricSummary.Of([12], trials: 500)), ("b", zero)));
        Assert.Equal(Verdict.DoesNotHold, Decide(check, ("a", MetricSummary.Of([5], trials: 500)), ("b", zero)));
        Assert.Equal(Verdict.NotDecided, Decide(check, ("a", MetricSummary.Of([16.2], trials: 500))));
        // Equal counts with margin 0 (C5's parameter check) hold exactly.
        Assert.Equal(Verdict.Holds, Decide(new RuleCheck("p", Above: "q"), ("p", MetricSummary.Of([12288])), ("q", MetricSummary.Of([12288]))));
    }

    [Fact]
    public void The_difference_of_paired_seeds_uses_the_spread_of_the_differences()
    {
        // a − b is 10 for every seed although a and b vary a lot: paired, the seed term is 0.
        var a = MetricSummary.Of([20, 50, 80]);
        var b = MetricSummary.Of([10, 40, 70]);
        Assert.Equal((10.0, 10.0), Intervals.OfDifference(a, b));
    }

    private const string TuningSetupJson = """
        "setup": { "model": { "layers": 1, "heads": 1, "width": 16, "prefix_size": 1 }, "pretrain": { "task": "ascending", "steps": 1 },
                   "runs": [ { "name": "p", "method": "prefix", "task": "descending", "steps": 1 } ], "evaluate": ["ascending"] }
        """;

    [Theory]
    [InlineData("""["C4"], "rules": [ { "claim": "C4", "text": "r", "rationale": "x", "all": [ { "metric": "p/descnding", "at_most": 5 } ] } ]""", "no metric 'p/descnding'")]
    [InlineData("""["C4"], "rules": [ { "claim": "C4", "text": "r", "rationale": "x", "all": [ { "metric": "p/descending", "above": "pretrained/descending" } ] } ]""", "no metric 'pretrained/descending'")]
    [InlineData("""[], "paper": { "p/acending": 1 }""", "no metric 'p/acending'")]
    [InlineData("""[], "protocol": { "p/step": 1 }""", "the protocol names 'p/step'")]
    public void A_metric_or_setting_no_runner_has_is_refused_when_the_spec_loads(string rest, string expected)
    {
        string json = $$"""{ "name": "s", "title": "t", "kind": "tuning", {{TuningSetupJson}}, "claims": {{rest}} }""";
        var error = Assert.Throws<PrefixLabException>(() => SpecLoader.Parse(json, "test"));
        Assert.Contains(expected, error.Message);
        Assert.Contains("spec 's'", error.Message);
        Assert.DoesNotContain("\n", error.Message);
        // The line lists what the runner does produce (or set), so the typo can be put right.
        Assert.Contains(expected.Contains("protocol") ? "p/steps" : "p/descending", error.Message);
    }

    [Fact]
    public void Deviations_give_each_paper_setting_run_differently_and_the_step_ratio_of_compared_methods()
    {
        var nb04 = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()).Single(s => s.Name == "nb04");
        var lines = new TuningRunner().ScaledDown(nb04, Profiles.Get("quick"));
        // paper.md: prefix 100,000 steps and LoRA 10,000 (10 : 1); the spec's quick profile: 3,000 and 6,000.
        Assert.Contains("step ratio prefix-histogram : lora-histogram: 0.5 (paper 10)", lines);
        Assert.Contains("model/layers: 2 (paper 4; × 0.5)", lines);
        Assert.Contains("prefix-histogram/lr: 5e-3 (paper 5e-5; × 100)", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("lora-histogram/lr", StringComparison.Ordinal)); // 5e-3, as the paper
        var nb03 = SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()).Single(s => s.Name == "nb03");
        Assert.Contains("prefix-plus1: not run (paper steps 20,000, lr 5e-5, init-std 1, prefix-size 10)", new TuningRunner().ScaledDown(nb03, Profiles.Get("quick")));
    }
}
