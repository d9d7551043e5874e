using System.CommandLine;
using PrefixLab.Reporting;
using PrefixLab.Training;

namespace PrefixLab.Cli.Commands;

internal sealed class CurvesCommand : CliCommand
{
    private readonly Argument<string[]> logsArgument = new("LOG") { Arity = ArgumentArity.ZeroOrMore, Description = "a run's log (X.log.jsonl, written beside the model or adapter X.safetensors)" };
    private readonly Option<string> outOption = Opt.Required("--out", "FILE.png", "the chart to write (not one of the logs, nor an existing device, pipe or folder)");
    private readonly ChoiceOption<CurveMetric> metricOption = Opt.Choice("--metric",
        "accuracy: the test evaluations of --eval-every; validation: the validation scores of --keep-best; loss",
        ("accuracy", CurveMetric.Accuracy), ("validation", CurveMetric.Validation), ("loss", CurveMetric.Loss));
    private readonly Option<string[]> labelsOption = Opt.List("--labels", "A,B", "legend entries, one per log", "label", "the file names");
    private readonly Option<string?> titleOption = Opt.Text("--title", "TEXT", "chart title");

    public CurvesCommand()
        : base("curves", "draw the test accuracy or loss of training runs from their logs", """
            Also prints, per log, the first, last, lowest and highest value and the mean of the last half.
            """)
    {
        Declare([logsArgument, outOption, metricOption, labelsOption, titleOption]);
    }

    protected override int Run(ParseResult parse)
    {
        string output = parse.GetRequiredValue(outOption);
        var metric = metricOption.Read(parse);
        var labels = parse.GetValue(labelsOption) is { Length: > 0 } given ? given : null;
        string? title = parse.GetValue(titleOption);
        var logs = parse.GetValue(logsArgument) ?? [];
        PrefixLabException.Check(logs.Length > 0, "curves needs at least one log file");
        PrefixLabException.Check(labels is null || labels.Length == logs.Length, $"--labels has {labels?.Length} entries for {logs.Length} log(s)");
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
