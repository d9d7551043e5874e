using PrefixLab.Training;
using PrefixLab.Util;
using ScottPlot;

namespace PrefixLab.Reporting;

/// <summary>What a curve shows.</summary>
public enum CurveMetric
{
    /// <summary>The test accuracy of the evaluations logged during training (<c>--eval-every</c>), in percent.</summary>
    Accuracy,

    /// <summary>The validation accuracy a run that keeps its best weights logs (<c>--keep-best</c>), in percent.</summary>
    Validation,

    /// <summary>The mean training loss of each log line.</summary>
    Loss,
}

/// <summary>One run's curve: a label and the lines of its log.</summary>
/// <param name="Label">The legend entry.</param>
/// <param name="Entries">The run's log, as <see cref="RunLog.Read"/> gives it.</param>
public sealed record CurveRun(string Label, IReadOnlyList<RunLogEntry> Entries);

/// <summary>Training curves of one or more runs against the step, drawn with ScottPlot as PNG.</summary>
public static class TrainingCurves
{
    /// <summary>The points of <paramref name="run"/> for <paramref name="metric"/>: (step, value).</summary>
    public static IReadOnlyList<(long Step, double Value)> Points(CurveRun run, CurveMetric metric) => metric switch
    {
        CurveMetric.Accuracy => [.. run.Entries.Where(e => e.Eval is not null).Select(e => (e.Step, 100 * e.Eval!.Accuracy))],
        CurveMetric.Validation => [.. run.Entries.Where(e => e.Validation is not null).Select(e => (e.Step, 100 * e.Validation!.Accuracy))],
        _ => [.. run.Entries.Where(e => !double.IsNaN(e.Loss)).Select(e => (e.Step, e.Loss))],
    };

    /// <summary>PNG bytes of every run's curve on one chart.</summary>
    public static byte[] RenderPng(IReadOnlyList<CurveRun> runs, CurveMetric metric, string? title = null, int width = 900, int height = 480)
    {
        PrefixLabException.Check(runs.Count > 0, "no run to draw");
        var plot = new Plot();
        foreach (var run in runs)
        {
            var points = Points(run, metric);
            PrefixLabException.Check(points.Count > 0, metric switch
            {
                CurveMetric.Accuracy => $"run '{run.Label}' logged no evaluation (train with --eval-every N)",
                CurveMetric.Validation => $"run '{run.Label}' logged no validation score (train with --keep-best)",
                _ => $"run '{run.Label}' logged nothing",
            });
            var line = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Value).ToArray());
            line.LegendText = run.Label;
            line.MarkerSize = 4;
        }
        plot.ShowLegend(Edge.Right); // outside the data, which can be anywhere
        plot.XLabel("step");
        plot.YLabel(metric switch
        {
            CurveMetric.Accuracy => "test accuracy (%)",
            CurveMetric.Validation => "validation accuracy (%)",
            _ => "training loss",
        });
        if (title is not null)
        {
            plot.Title(title);
        }
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }

    /// <summary>Draws the chart into <paramref name="path"/> (written to a temporary file, then renamed).</summary>
    public static void SavePng(string path, IReadOnlyList<CurveRun> runs, CurveMetric metric, string? title = null)
    {
        var png = RenderPng(runs, metric, title);
        AtomicFile.Write(path, stream => stream.Write(png));
    }
}
