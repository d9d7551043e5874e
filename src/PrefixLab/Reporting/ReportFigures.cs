using PrefixLab.Experiments;
using ScottPlot;

namespace PrefixLab.Reporting;

/// <summary>The report's charts, drawn with ScottPlot as PNG bytes.</summary>
public static class ReportFigures
{
    private const int Width = 900, Height = 420;

    private static bool IsPercent(double value) => value is >= 0 and <= 100;

    /// <summary>
    /// Our numbers beside the paper's for every percentage (accuracy, exact share, distinct share) of
    /// <paramref name="outcome"/> that the paper reports; null when there is none to compare. Counts
    /// such as parameter numbers stay in the table: on a 0–100 axis they would only hide the rest.
    /// </summary>
    public static byte[]? OursAgainstPaper(ExperimentOutcome outcome)
    {
        var names = outcome.Paper.Keys.Where(n => outcome.Metrics.ContainsKey(n) && IsPercent(outcome.Paper[n]) && IsPercent(outcome.Metrics[n].Mean)).ToList();
        if (names.Count == 0)
        {
            return null;
        }
        var plot = new Plot();
        var ours = Colors.C0;
        var paper = Colors.C1;
        var bars = new List<Bar>();
        for (int i = 0; i < names.Count; i++)
        {
            var metric = outcome.Metrics[names[i]];
            bars.Add(new Bar { Position = i - 0.2, Value = metric.Mean, Error = metric.Std, FillColor = ours, Size = 0.4 });
            bars.Add(new Bar { Position = i + 0.2, Value = outcome.Paper[names[i]], FillColor = paper, Size = 0.4 });
        }
        plot.Add.Bars(bars);
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "PrefixLab", FillColor = ours });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "paper", FillColor = paper });
        plot.ShowLegend(Alignment.UpperRight);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < names.Count; i++)
        {
            ticks.AddMajor(i, names[i]);
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 140;
        plot.Axes.Right.MinimumSize = 160; // room for the last rotated label
        plot.Axes.SetLimits(-0.7, names.Count - 0.3, 0, 105);
        plot.YLabel("percent");
        plot.Title($"{outcome.Name}: ours against the paper");
        return plot.GetImageBytes(Width, Height + 80, ImageFormat.Png);
    }

    /// <summary>
    /// One point per (experiment, task): how far a short full fine-tuning moved the content attention
    /// against the accuracy a context method reached on that task.
    /// </summary>
    public static byte[] ShiftAgainstAccuracy(IReadOnlyList<ShiftPoint> points)
    {
        var plot = new Plot();
        var scatter = plot.Add.ScatterPoints(points.Select(p => p.Shift).ToArray(), points.Select(p => p.Accuracy).ToArray());
        scatter.MarkerSize = 9;
        foreach (var p in points)
        {
            var label = plot.Add.Text($"{p.Experiment}/{p.Task}", p.Shift, p.Accuracy);
            label.LabelFontSize = 11;
        }
        plot.XLabel("content-attention shift of a short full fine-tuning (mean total variation)");
        plot.YLabel("best context-method accuracy (%)");
        plot.Title("Does a task that needs a large attention shift defeat the prefix?");
        plot.Axes.SetLimitsY(-5, 105);
        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }
}
