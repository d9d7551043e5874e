using System.Globalization;

namespace PrefixLab.Experiments;

/// <summary>
/// One comparison of a rule: metric ≥ <see cref="AtLeast"/>, metric ≤ <see cref="AtMost"/>, or metric
/// above another metric by at least <see cref="Margin"/>. Means over seeds are compared.
/// </summary>
/// <param name="Metric">The metric's name (e.g. <c>prefix-descending/descending</c>).</param>
/// <param name="AtLeast">Lower bound, if any.</param>
/// <param name="AtMost">Upper bound, if any.</param>
/// <param name="Above">Another metric this one must exceed, if any.</param>
/// <param name="Margin">By how much it must exceed <paramref name="Above"/>.</param>
public sealed record RuleCheck(string Metric, double? AtLeast = null, double? AtMost = null, string? Above = null, double Margin = 0)
{
    /// <summary>The check in words, e.g. <c>prefix/descending ≤ 5</c>.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (AtLeast is double low)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Metric} ≥ {low:G4}"));
        }
        if (AtMost is double high)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Metric} ≤ {high:G4}"));
        }
        if (Above is string other)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{Metric} ≥ {other} + {Margin:G4}"));
        }
        return string.Join(" and ", parts);
    }
}

/// <summary>A rule that decides a claim: every check must pass.</summary>
/// <param name="Claim">The claim, e.g. <c>C4</c>.</param>
/// <param name="Text">What the rule says in words.</param>
/// <param name="All">The checks.</param>
public sealed record ClaimRule(string Claim, string Text, IReadOnlyList<RuleCheck> All);

/// <summary>What a rule, or all the rules of a claim, decided.</summary>
public enum Verdict
{
    /// <summary>Every check passed: the claim holds here.</summary>
    Holds,

    /// <summary>A check failed.</summary>
    DoesNotHold,

    /// <summary>A metric it needs was not measured (an experiment not available in this build, or failed).</summary>
    NotDecided,
}

/// <summary>A rule's outcome.</summary>
/// <param name="Experiment">The spec it belongs to.</param>
/// <param name="Claim">The claim it decides.</param>
/// <param name="Rule">The rule in words, with its checks.</param>
/// <param name="Verdict">What it decided.</param>
/// <param name="Evidence">Each check with the numbers it compared.</param>
public sealed record RuleOutcome(string Experiment, string Claim, string Rule, Verdict Verdict, IReadOnlyList<string> Evidence);

/// <summary>Applies rules to measured metrics.</summary>
public static class Rules
{
    /// <summary>Decides <paramref name="rule"/> of <paramref name="experiment"/> from <paramref name="metrics"/>.</summary>
    public static RuleOutcome Decide(string experiment, ClaimRule rule, IReadOnlyDictionary<string, MetricSummary> metrics)
    {
        var evidence = new List<string>();
        var verdict = Verdict.Holds;
        foreach (var check in rule.All)
        {
            var outcome = Check(check, metrics, out string words);
            evidence.Add(words);
            verdict = Combine(verdict, outcome);
        }
        string text = $"{rule.Text} ({string.Join("; ", rule.All)})";
        return new RuleOutcome(experiment, rule.Claim, text, verdict, evidence);
    }

    /// <summary>Any failure decides against; otherwise anything undecided leaves it undecided.</summary>
    public static Verdict Combine(Verdict a, Verdict b) =>
        a == Verdict.DoesNotHold || b == Verdict.DoesNotHold ? Verdict.DoesNotHold
        : a == Verdict.NotDecided || b == Verdict.NotDecided ? Verdict.NotDecided
        : Verdict.Holds;

    private static Verdict Check(RuleCheck check, IReadOnlyDictionary<string, MetricSummary> metrics, out string words)
    {
        if (!metrics.TryGetValue(check.Metric, out var value))
        {
            words = $"{check.Metric}: not measured";
            return Verdict.NotDecided;
        }
        double mean = value.Mean;
        bool pass = true;
        var parts = new List<string> { string.Create(CultureInfo.InvariantCulture, $"{check.Metric} = {mean:G4}") };
        if (check.AtLeast is double low)
        {
            pass &= mean >= low;
        }
        if (check.AtMost is double high)
        {
            pass &= mean <= high;
        }
        if (check.Above is string other)
        {
            if (!metrics.TryGetValue(other, out var reference))
            {
                words = $"{other}: not measured";
                return Verdict.NotDecided;
            }
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{other} = {reference.Mean:G4}"));
            pass &= mean >= reference.Mean + check.Margin;
        }
        words = $"{string.Join(", ", parts)} → {(pass ? "pass" : "fail")} ({check})";
        return pass ? Verdict.Holds : Verdict.DoesNotHold;
    }
}
