using System.CommandLine;
using PrefixLab.Experiments;
using PrefixLab.Reporting;
using PrefixLab.Util;

namespace PrefixLab.Cli.Commands;

internal sealed class ReproduceCommand : CliCommand
{
    private readonly Option<Profile?> profileOption = Opt.Parsed("--profile", string.Join('|', Profiles.All.Select(p => p.Name)),
        "quick: scaled down to under 45 minutes here; paper: the paper's sizes; smoke: a few minutes, checks the pipeline and decides nothing",
        Profiles.Get, Profiles.Quick);
    private readonly Option<int> seedsOption = Opt.Int("--seeds", "seeds per experiment; tables show mean ± std when K > 1", 1, 1, 100, "K");
    private readonly Option<string[]> onlyOption = Opt.List("--only", "NAME,NAME", "run only these specs", "spec", "every spec");
    private readonly Option<string> outOption = Opt.TextOr("--out", "DIR",
        "where report.md, index.html, results.json and figures/ go: a folder or new, and those names not existing devices, pipes or folders", "report");
    private readonly Option<string?> specsOption = Opt.Text("--specs", "DIR", "the experiment specs", defaultText: "experiments/ here, else the copy beside the app");
    private readonly Option<string?> cacheOption = Opt.Text("--cache", "DIR", "trained models, adapters and finished results", defaultText: "runs/reproduce/PROFILE");
    private readonly Option<string?> gpt2Option = Opt.Text("--gpt2", "DIR", "with --text-data: a Hugging Face GPT-2 directory for the paper's appendix (C6: prefix-spread); without them that experiment is reported as not run");
    private readonly Option<string?> textDataOption = Opt.Text("--text-data", "FILE", "with --gpt2: labelled texts (.jsonl or .csv, as tune --data reads them)");

    public ReproduceCommand()
        : base("reproduce", "run the paper's experiments (experiments/*.json) and write a report that decides C1–C6", """
            Finished work is cached by a hash of everything that determines it: rerunning, or starting
            again after a kill, skips it.
            """)
    {
        Declare([profileOption, seedsOption, onlyOption, outOption, specsOption, cacheOption, gpt2Option, textDataOption]);
    }

    protected override int Run(ParseResult parse)
    {
        var profile = parse.GetValue(profileOption) ?? Profiles.Get(Profiles.Quick);
        int seeds = parse.GetValue(seedsOption);
        var only = parse.GetValue(onlyOption) is { Length: > 0 } names ? names : null;
        string output = parse.GetRequiredValue(outOption);
        string specsDirectory = parse.GetValue(specsOption) ?? DefaultSpecs();
        string cacheDirectory = parse.GetValue(cacheOption) ?? Path.Combine("runs", "reproduce", profile.Name);
        string? gpt2 = parse.GetValue(gpt2Option);
        string? textData = parse.GetValue(textDataOption);
        PrefixLabException.Check((gpt2 is null) == (textData is null), "--gpt2 DIR and --text-data FILE go together");
        new OutputPlan().Directory("--out", output, "report.md", "index.html", "results.json").Directory("--out's figures", Path.Combine(output, "figures"))
            .Input("--specs", specsDirectory).Input("--gpt2", gpt2).Input("--text-data", textData).Check();
        new OutputPlan().Directory("--cache", cacheDirectory).Input("--specs", specsDirectory).Input("--gpt2", gpt2).Input("--text-data", textData).Check();

        var specs = SpecLoader.LoadDirectory(specsDirectory);
        if (only is not null)
        {
            var unknown = only.FirstOrDefault(n => specs.All(s => s.Name != n));
            PrefixLabException.Check(unknown is null, $"no spec named '{unknown}' (known: {string.Join(", ", specs.Select(s => s.Name))})");
            specs = [.. specs.Where(s => only.Contains(s.Name))];
        }
        IEnumerable<IExperimentRunner> runners = gpt2 is null ? Engine.BuiltInRunners : [.. Engine.BuiltInRunners, new Gpt2SpreadRunner(gpt2, textData!)];
        var engine = new Engine(runners, new ResultCache(cacheDirectory), profile, seeds);
        engine.Validate(specs);
        Console.WriteLine($"reproduce: {specs.Count} experiment(s), profile {profile.Name}, {seeds} seed(s); estimated {Durations.Format(engine.Estimate(specs))} if nothing is cached and the machine is free");
        string command = string.Join(' ', new[] { "prefixlab", "reproduce" }.Concat(Environment.GetCommandLineArgs().Skip(2)));
        var progress = new EngineProgressPrinter();
        var reproduction = engine.Run(specs, command, progress.Report);
        progress.Finish();
        ReproductionReport.Write(output, reproduction);
        foreach (var o in reproduction.Experiments)
        {
            Console.WriteLine($"{o.Name,-16} {o.Status,-12} {(o.Message ?? string.Join(", ", o.Rules.Select(r => $"{r.Claim} {ReproductionReport.Words(r.Verdict).Trim('*')}")))}");
        }
        foreach (var claim in reproduction.Claims)
        {
            Console.WriteLine($"{claim.Claim}: {ReproductionReport.Words(claim.Verdict).Trim('*')}");
        }
        Console.WriteLine($"ran {engine.SeedsRun} experiment seed(s), the rest from the cache; {Durations.Format(TimeSpan.FromSeconds(reproduction.Seconds))}");
        Console.WriteLine($"report: {Path.Combine(output, "index.html")}, {Path.Combine(output, "report.md")}, {Path.Combine(output, "results.json")}");
        // A failed experiment is in the report with its reason; the exit code tells a script about it.
        int failed = reproduction.Experiments.Count(o => o.Status == ExperimentStatus.Failed);
        if (failed > 0)
        {
            Console.Error.WriteLine($"prefixlab reproduce: {failed} experiment(s) failed (see the report)");
            return 1;
        }
        return 0;
    }

    /// <summary><c>experiments/</c> in the working directory (a checkout), else the copy the build puts beside the app.</summary>
    private static string DefaultSpecs()
    {
        string here = Path.Combine(Directory.GetCurrentDirectory(), "experiments");
        return Directory.Exists(here) ? here : Path.Combine(AppContext.BaseDirectory, "experiments");
    }
}
