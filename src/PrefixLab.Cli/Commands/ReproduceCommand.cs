using PrefixLab.Experiments;
using PrefixLab.Reporting;
using PrefixLab.Util;

namespace PrefixLab.Cli.Commands;

internal sealed class ReproduceCommand : ICommand
{
    public string Name => "reproduce";

    public string Summary => "run the paper's experiments (experiments/*.json) and write a report that decides C1–C6";

    public string Usage => """
        prefixlab reproduce [--profile smoke|quick|paper] [--seeds K] [--only NAME[,NAME]] [--out report/]
          --profile P    quick (default: scaled down to under 45 minutes here), paper (the paper's sizes),
                         smoke (a few minutes: checks the pipeline, decides nothing)
          --seeds K      seeds per experiment, 1-100; tables show mean ± std when K > 1 (default 1)
          --only NAMES   run only these specs (comma-separated names)
          --out DIR      where report.md, index.html, results.json and figures/ go (default report/); a folder
                         or new, and those names not existing devices, pipes or folders
          --specs DIR    the specs (default: experiments/ here, else the copy beside the app)
          --cache DIR    trained models, adapters and finished results (default runs/reproduce/PROFILE)
          --gpt2 DIR --text-data FILE
                         a Hugging Face GPT-2 directory and labelled texts (.jsonl or .csv, as tune
                         --data reads them) for the paper's appendix (C6: prefix-spread); without them
                         that experiment is reported as not run
        Finished work is cached by a hash of everything that determines it: rerunning, or starting
        again after a kill, skips it.
        """;

    public int Run(Arguments args)
    {
        var profile = Profiles.Get(args.Optional("profile") ?? Profiles.Quick);
        int seeds = args.Int("seeds", 1, 1, 100);
        var only = args.Optional("only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string output = args.Optional("out") ?? "report";
        string specsDirectory = args.Optional("specs") ?? DefaultSpecs();
        string cacheDirectory = args.Optional("cache") ?? Path.Combine("runs", "reproduce", profile.Name);
        string? gpt2 = args.Optional("gpt2");
        string? textData = args.Optional("text-data");
        args.EnsureAllUsed();
        PrefixLabException.Check(only is null || only.Length > 0, "option --only names no spec");
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
