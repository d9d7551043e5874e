using System.Globalization;

namespace PrefixLab.Experiments;

/// <summary>
/// One comparison of a rule: metric ≥ <see cref="AtLeast"/>, metric ≤ <see cref="AtMost"/>, or metric
/// above another metric by at least <see cref="Margin"/>. The 95% interval of the mean over seeds is
/// compared (<see cref="Intervals"/>): a check passes only if its whole interval meets the bound, fails
/// only if its whole interval misses it, and is undecided when the interval straddles it.
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
/// <param name="Rationale">
/// Why the bounds are what they are, from the paper: which of its numbers, and which band around it the
/// rule accepts. Required, so that a bound is argued from the paper and not from a run.
/// </param>
/// <param name="All">The checks.</param>
public sealed record ClaimRule(string Claim, string Text, string Rationale, IReadOnlyList<RuleCheck> All);

/// <summary>What a rule, or all the rules of a claim, decided.</summary>
public enum Verdict
{
    /// <summary>Every check passed across its whole interval: the claim holds here.</summary>
    Holds,

    /// <summary>A check failed across its whole interval.</summary>
    DoesNotHold,

    /// <summary>
    /// A metric it needs was not measured (an experiment not available in this build, or failed), or a
    /// check's interval straddles its bound.
    /// </summary>
    NotDecided,
}

/// <summary>A rule's outcome.</summary>
/// <param name="Experiment">The spec it belongs to.</param>
/// <param name="Claim">The claim it decides.</param>
/// <param name="Rule">The rule in words, with its checks.</param>
/// <param name="Verdict">What it decided.</param>
/// <param name="Evidence">Each check with the numbers it compared.</param>
/// <param name="Rationale">The rule's rationale from the paper (<see cref="ClaimRule.Rationale"/>).</param>
public sealed record RuleOutcome(string Experiment, string Claim, string Rule, Verdict Verdict, IReadOnlyList<string> Evidence, string Rationale = "");

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
        return new RuleOutcome(experiment, rule.Claim, text, verdict, evidence, rule.Rationale);
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
        var verdict = Verdict.Holds;
        var parts = new List<string> { $"{check.Metric} = {Interval(value.Mean, value.Low, value.High)}" };
        if (check.AtLeast is double low)
        {
            verdict = Combine(verdict, Against(value.Low, value.High, low));
        }
        if (check.AtMost is double high)
        {
            // x ≤ b is −x ≥ −b.
            verdict = Combine(verdict, Against(-value.High, -value.Low, -high));
        }
        if (check.Above is string other)
        {
            if (!metrics.TryGetValue(other, out var reference))
            {
                words = $"{other}: not measured";
                return Verdict.NotDecided;
            }
            var (dLow, dHigh) = Intervals.OfDifference(value, reference);
            parts.Add($"{other} = {Interval(reference.Mean, reference.Low, reference.High)}");
            parts.Add($"difference {Interval(value.Mean - reference.Mean, dLow, dHigh)}");
            verdict = Combine(verdict, Against(dLow, dHigh, check.Margin));
        }
        string outcome = verdict switch
        {
            Verdict.Holds => "pass",
            Verdict.DoesNotHold => "fail",
            _ => "not decided: the interval straddles the bound",
        };
        words = $"{string.Join(", ", parts)} → {outcome} ({check})";
        return verdict;
    }

    /// <summary>Whether the interval [<paramref name="low"/>, <paramref name="high"/>] is wholly ≥ the bound, wholly below it, or across it.</summary>
    private static Verdict Against(double low, double high, double bound) =>
        low >= bound ? Verdict.Holds : high < bound ? Verdict.DoesNotHold : Verdict.NotDecided;

    /// <summary>A mean with its interval, e.g. <c>16.2 [13.1, 19.7]</c>; a point interval shows the value alone.</summary>
    private static string Interval(double mean, double low, double high) => low == high && low == mean
        ? string.Create(CultureInfo.InvariantCulture, $"{mean:G4}")
        : string.Create(CultureInfo.InvariantCulture, $"{mean:G4} [{low:G4}, {high:G4}]");
}
