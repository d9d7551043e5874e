using PrefixLab.Experiments;

namespace PrefixLab.Reporting;

/// <summary>A task's attention shift under full fine-tuning and the best accuracy a context method reached on it.</summary>
/// <param name="Experiment">The spec that measured it.</param>
/// <param name="Task">The task.</param>
/// <param name="Shift">Mean total variation of the content attention after a short full fine-tuning.</param>
/// <param name="Accuracy">Best accuracy (percent) of a context method tuned on the task.</param>
public sealed record ShiftPoint(string Experiment, string Task, double Shift, double Accuracy);

/// <summary>
/// The thesis as a prediction (issue: attention shift as a predictor): a task that full fine-tuning
/// learns by moving the content attention a lot is one a prefix cannot learn, so shift and prefix
/// accuracy should be negatively rank-correlated.
/// </summary>
public static class ShiftPredictor
{
    /// <summary>Spearman's ρ at or below this, over at least <see cref="MinimumPoints"/> points, counts as the prediction holding.</summary>
    public const double Threshold = -0.5;

    /// <summary>Fewer points decide nothing.</summary>
    public const int MinimumPoints = 4;

    /// <summary>Every (experiment, task) with both a <c>shift/TASK</c> and a <c>context/TASK</c> metric.</summary>
    public static IReadOnlyList<ShiftPoint> Points(Reproduction reproduction) =>
        (from o in reproduction.Experiments
         from m in o.Metrics
         where m.Key.StartsWith("shift/", StringComparison.Ordinal)
         let task = m.Key["shift/".Length..]
         where o.Metrics.ContainsKey($"context/{task}")
         select new ShiftPoint(o.Name, task, m.Value.Mean, o.Metrics[$"context/{task}"].Mean)).ToList();

    /// <summary>Spearman's rank correlation of shift against accuracy (ties get their mean rank); NaN for fewer than two points or a constant.</summary>
    public static double Spearman(IReadOnlyList<ShiftPoint> points)
    {
        if (points.Count < 2)
        {
            return double.NaN;
        }
        var x = Ranks([.. points.Select(p => p.Shift)]);
        var y = Ranks([.. points.Select(p => p.Accuracy)]);
        double mx = x.Average(), my = y.Average();
        double sxy = x.Zip(y).Sum(v => (v.First - mx) * (v.Second - my));
        double sxx = x.Sum(v => (v - mx) * (v - mx)), syy = y.Sum(v => (v - my) * (v - my));
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>The verdict in words.</summary>
    public static string Verdict(IReadOnlyList<ShiftPoint> points)
    {
        double rho = Spearman(points);
        string rule = $"rule: Spearman's ρ ≤ {Threshold} over at least {MinimumPoints} tasks";
        if (points.Count < MinimumPoints || double.IsNaN(rho))
        {
            return $"Not decided: {points.Count} task(s) measured ({rule}).";
        }
        return rho <= Threshold
            ? $"Holds: ρ = {rho:F2} over {points.Count} tasks ({rule})."
            : $"Does not hold: ρ = {rho:F2} over {points.Count} tasks ({rule}).";
    }

    private static double[] Ranks(double[] values)
    {
        var order = values.Select((v, i) => (v, i)).OrderBy(p => p.v).ToArray();
        var ranks = new double[values.Length];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && order[end + 1].v == order[start].v)
            {
                end++;
            }
            for (int k = start; k <= end; k++)
            {
                ranks[order[k].i] = (start + end) / 2.0;
            }
            start = end + 1;
        }
        return ranks;
    }
}
