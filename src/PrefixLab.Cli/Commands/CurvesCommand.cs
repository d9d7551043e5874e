using PrefixLab.Reporting;
using PrefixLab.Training;

namespace PrefixLab.Cli.Commands;

internal sealed class CurvesCommand : ICommand
{
    public string Name => "curves";

    public string Summary => "draw the test accuracy or loss of training runs from their logs";

    public string Usage => """
        prefixlab curves LOG [LOG ...] --out FILE.png [options]
          LOG               a run's log (X.log.jsonl, written beside the model or adapter X.safetensors)
          --out FILE.png    the chart to write (not one of the logs, nor an existing device, pipe or folder)
          --metric M        accuracy (the test evaluations of --eval-every, default), validation (the
                            validation scores of --keep-best) or loss
          --labels a,b,...  legend entries, one per log (default: the file names)
          --title TEXT      chart title
        Also prints, per log, the first, last, lowest and highest value and the mean of the last half.
        """;

    public int Run(Arguments args)
    {
        string output = args.Required("out");
        var metric = args.Choice("metric", ("accuracy", CurveMetric.Accuracy), ("validation", CurveMetric.Validation), ("loss", CurveMetric.Loss));
        var labels = args.Optional("labels")?.Split(',');
        string? title = args.Optional("title");
        var logs = args.Positional;
        args.EnsureAllUsed();
        PrefixLabException.Check(logs.Count > 0, "curves needs at least one log file");
        PrefixLabException.Check(labels is null || labels.Length == logs.Count, $"--labels has {labels?.Length} entries for {logs.Count} log(s)");
        var plan = new OutputPlan().File("--out", output);
        foreach (string log in logs)
        {
            plan.Input("log", log);
        }
        plan.Check();

        var runs = logs.Select((path, i) => new CurveRun(labels?[i] ?? Path.GetFileName(path), RunLog.Read(path))).ToList();
        TrainingCurves.SavePng(output, runs, metric, title);
        foreach (var run in runs)
        {
            var points = TrainingCurves.Points(run, metric);
            var lastHalf = points.Where(p => p.Step > points[^1].Step / 2).ToList();
            string unit = metric == CurveMetric.Loss ? "" : " %";
            Console.WriteLine($"{run.Label}: {points.Count} points, step {points[0].Step} {points[0].Value:F2}{unit} → step {points[^1].Step} {points[^1].Value:F2}{unit}; " +
                $"min {points.Min(p => p.Value):F2}, max {points.Max(p => p.Value):F2}, mean of the last half {lastHalf.Average(p => p.Value):F2}{unit}");
        }
        Console.WriteLine($"wrote {output}");
        return 0;
    }
}
