using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using PrefixLab.Experiments;
using PrefixLab.Util;

namespace PrefixLab.Reporting;

/// <summary>
/// The report of a reproduction: <c>report.md</c> with PNG figures under <c>figures/</c>,
/// <c>index.html</c> (the same, one self-contained file) and <c>results.json</c> (every number).
/// </summary>
public static class ReproductionReport
{
    /// <summary>Writes the three files (and the figures) into <paramref name="directory"/>, atomically each.</summary>
    public static void Write(string directory, Reproduction reproduction)
    {
        var blocks = Build(reproduction);
        foreach (var figure in blocks.OfType<Figure>())
        {
            AtomicFile.Write(Path.Combine(directory, "figures", figure.FileName), s => s.Write(figure.Png));
        }
        AtomicFile.WriteText(Path.Combine(directory, "report.md"), ReportRenderer.Markdown(blocks));
        AtomicFile.WriteText(Path.Combine(directory, "index.html"), ReportRenderer.Html($"PrefixLab reproduction ({reproduction.Profile.Name})", blocks));
        var options = new JsonSerializerOptions(SpecLoader.Json) { Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) } };
        AtomicFile.WriteText(Path.Combine(directory, "results.json"), JsonSerializer.Serialize(reproduction, options));
    }

    /// <summary>The report's blocks.</summary>
    public static IReadOnlyList<ReportBlock> Build(Reproduction r)
    {
        var blocks = new List<ReportBlock>
        {
            new Heading(1, "PrefixLab: reproducing *When Do Prompting and Prefix-Tuning Work?*"),
            new Paragraph($"Command: `{r.Command}`. Profile **{r.Profile.Name}** ({r.Profile.Purpose}), {r.Seeds} seed(s); started {r.StartedUtc:yyyy-MM-dd HH:mm} UTC, took {Durations.Format(TimeSpan.FromSeconds(r.Seconds))} on {r.Machine}."),
        };
        if (r.Profile.Name != Profiles.Paper)
        {
            blocks.Add(new Paragraph($"Accuracies are exact-match rates over {r.Profile.EvalSamples:N0} test samples (paper: 3,200); every other setting this profile runs differently from the paper is listed under each experiment as a deviation from the paper's protocol."));
        }
        if (r.Profile.Name == Profiles.Smoke)
        {
            blocks.Add(new Paragraph("**The smoke profile checks the pipeline; its verdicts say nothing about the paper.**"));
        }
        blocks.Add(new Heading(2, "Claims"));
        blocks.Add(new Paragraph("Each check compares the 95% interval of a mean (over the seeds and, for an accuracy, over its test samples; see docs/reproduction.md) with its bound: it passes only if the whole interval meets the bound, fails only if the whole interval misses it, and is not decided when the interval straddles it. A claim holds when every rule that decides it holds. Numbers labelled \"paper\" are the paper's own."));
        blocks.Add(new Table(["claim", "verdict", "decided by"], [.. r.Claims.Select(c => Row(c.Claim, Words(c.Verdict), string.Join("; ", c.Rules.Select(x => $"{x.Experiment}: {Words(x.Verdict)}"))))]));
        var undecided = AllClaims.Except(r.Claims.Select(c => c.Claim)).ToList();
        if (undecided.Count > 0)
        {
            blocks.Add(new Paragraph($"No rule of the experiments run decides {string.Join(", ", undecided)}."));
        }
        blocks.AddRange(ShiftSection(r));
        foreach (var outcome in r.Experiments)
        {
            blocks.AddRange(Experiment(outcome, r.Seeds));
        }
        return blocks;
    }

    private static readonly string[] AllClaims = ["C1", "C2", "C3", "C4", "C5", "C6"];

    private static IEnumerable<ReportBlock> ShiftSection(Reproduction r)
    {
        var points = ShiftPredictor.Points(r);
        yield return new Heading(2, "Attention shift as a predictor");
        yield return new Paragraph("For each task a context method was tuned on, a short full fine-tuning from the same base measures how far the task moves the pretrained model's content attention (`verify`'s total variation, mean over layers, heads and queries). The paper's thesis predicts that tasks needing a large shift are those a prefix cannot learn.");
        if (points.Count == 0)
        {
            yield return new Paragraph("No experiment of this run measured it.");
            yield break;
        }
        yield return new Table(["experiment", "task", "attention shift", "best context-method accuracy"],
            [.. points.Select(p => Row(p.Experiment, p.Task, Number(p.Shift), Number(p.Accuracy)))]);
        yield return new Figure("attention-shift.png", "Attention shift of a short full fine-tuning against the accuracy of context-based tuning, per task", ReportFigures.ShiftAgainstAccuracy(points));
        yield return new Paragraph(ShiftPredictor.Verdict(points));
    }

    private static IEnumerable<ReportBlock> Experiment(ExperimentOutcome o, int seeds)
    {
        yield return new Heading(2, $"{o.Name}: {o.Title}");
        string status = o.Status switch
        {
            ExperimentStatus.Done => $"run in {Durations.Format(TimeSpan.FromSeconds(o.Seconds))}",
            ExperimentStatus.Cached => "results from the cache",
            ExperimentStatus.NotAvailable => $"**not run**: {o.Message}",
            _ => $"**failed**: {o.Message}",
        };
        yield return new Paragraph($"Kind `{o.Kind}`; claims {string.Join(", ", o.Claims)}; {status}.");
        if (o.Description is { } description)
        {
            yield return new Paragraph(description);
        }
        // Derived from the spec's record of the paper's settings against what this profile ran.
        yield return new Paragraph("Deviations from the paper's protocol:");
        yield return new BulletList(o.ScaledDown.Count > 0 ? o.ScaledDown : ["none of the paper's settings recorded in the spec"]);
        var names = o.Metrics.Keys.Union(o.Paper.Keys).ToList();
        if (names.Count > 0)
        {
            string ours = seeds > 1 ? $"ours (mean ± std, {seeds} seeds)" : "ours";
            yield return new Table(["metric", ours, "95% interval", "paper"],
                [.. names.Select(n => Row(n,
                    o.Metrics.TryGetValue(n, out var m) ? Summary(m) : "–",
                    m is not null ? Interval(m) : "–",
                    o.Paper.TryGetValue(n, out var p) ? Number(p) : "–"))]);
        }
        if (o.Rules.Count > 0)
        {
            yield return new Table(["claim", "rule", "verdict", "evidence (mean [95% interval])"],
                [.. o.Rules.Select(x => Row(x.Claim, x.Rule, Words(x.Verdict), string.Join("; ", x.Evidence)))]);
            yield return new Paragraph("Why the bounds are what they are (fixed in the spec; experiments/CHANGES.md records every change):");
            yield return new BulletList([.. o.Rules.Select(x => $"{x.Claim}: {x.Rationale}")]);
        }
        if (ReportFigures.OursAgainstPaper(o) is { } png)
        {
            yield return new Figure($"{o.Name}.png", $"{o.Name}: our numbers beside the paper's (percent)", png);
        }
        if (o.Notes.Count > 0)
        {
            yield return new BulletList(o.Notes);
        }
    }

    /// <summary>A verdict in the report's words.</summary>
    public static string Words(Verdict verdict) => verdict switch
    {
        Verdict.Holds => "holds",
        Verdict.DoesNotHold => "**does not hold**",
        _ => "not decided",
    };

    private static IReadOnlyList<string> Row(params string[] cells) => cells;

    private static string Summary(MetricSummary m) => m.Values.Count > 1 ? $"{Number(m.Mean)} ± {Number(m.Std)}" : Number(m.Mean);

    /// <summary>The 95% interval, and over what it is taken (seeds, test samples, or neither: the value itself).</summary>
    private static string Interval(MetricSummary m)
    {
        string over = (m.Values.Count > 1, m.Trials) switch
        {
            (true, int n) => $"seeds and {n:N0} samples each",
            (true, null) => "seeds",
            (false, int n) => $"{n:N0} samples",
            _ => "",
        };
        return over.Length == 0 ? "–" : $"[{Number(m.Low)}, {Number(m.High)}] ({over})";
    }

    /// <summary>Percentages and counts with two decimals, tiny errors in scientific notation.</summary>
    private static string Number(double value) =>
        value != 0 && Math.Abs(value) < 0.01 ? value.ToString("0.00E+00", CultureInfo.InvariantCulture) : value.ToString("0.##", CultureInfo.InvariantCulture);
}
