using System.CommandLine;
using PrefixLab.Experiments;
using PrefixLab.Reporting;
using PrefixLab.Util;

namespace PrefixLab.Cli.Commands;

internal sealed class ReproduceCommand : CliCommand
{
    private readonly Option<Profile?> profileOption = Opt.Parsed("--profile", string.Join('|', Profiles.All.Select(p => p.Name)),
        "quick: scaled down, 3 seeds (--plan estimates its time here); paper: the paper's sizes; smoke: a few minutes, checks the pipeline and decides nothing",
        Profiles.Get, Profiles.Quick);
    private readonly Option<int?> seedsOption = Opt.IntOrNull("--seeds", "seeds per experiment; tables show mean ± std and 95% intervals when K > 1", 1, 100,
        $"{Profiles.DefaultSeeds(Profiles.Get(Profiles.Quick))} for quick, {Profiles.DefaultSeeds(Profiles.Get(Profiles.Smoke))} for smoke and {Profiles.DefaultSeeds(Profiles.Get(Profiles.Paper))} for paper", "K");
    private readonly Option<string[]> onlyOption = Opt.List("--only", "NAME,NAME", "run only these specs", "spec", "every spec");
    private readonly Option<string> outOption = Opt.TextOr("--out", "DIR",
        "where report.md, index.html, results.json and figures/ go: a folder or new, and those names not existing devices, pipes or folders", "report");
    private readonly Option<string?> specsOption = Opt.Text("--specs", "DIR", "the experiment specs", defaultText: "experiments/ here, else the copy beside the app");
    private readonly Option<string?> cacheOption = Opt.Text("--cache", "DIR", "trained models, adapters and finished results", defaultText: "runs/reproduce/PROFILE");
    private readonly Option<string?> gpt2Option = Opt.Text("--gpt2", "DIR", "with --text-data: a Hugging Face GPT-2 directory for the paper's appendix (C6: prefix-spread); without them that experiment is reported as not run");
    private readonly Option<string?> textDataOption = Opt.Text("--text-data", "FILE", "with --gpt2: labelled texts (.jsonl or .csv, as tune --data reads them)");
    private readonly Option<string?> llamaOption = Opt.Text("--llama", "DIR", "a Llama-family Hugging Face folder for the paper's LLaMA experiments (C1: llama-completions, C2/C3: llama-identities); without it they are reported as not run");
    private readonly Option<int?> llamaVirtualOption = Opt.IntOrNull("--llama-virtual-tokens", "with --llama: single virtual tokens trained and counted", 1, 10_000_000, "the spec's: the paper's 48,218 for the count", "N");
    private readonly Option<int?> llamaLengthOption = Opt.IntOrNull("--llama-length", "with --llama: tokens generated after the token and the prompt", 1, 100_000, "the paper's 10", "K");
    private readonly Option<string?> llamaPromptOption = Opt.Text("--llama-prompt", "IDS", "with --llama: token ids after the real or virtual token, e.g. \"1 450 4996\"", defaultText: "none, as the paper");
    private readonly Option<bool> planOption = Opt.Flag("--plan", "print the units of work, what each needs first and its estimated time, the total CPU-hours and the wall time on 1, 8 and 64 nodes; run nothing");
    private readonly Option<string?> unitOption = Opt.Text("--unit", "ID", "run one unit of the plan (an id --plan prints) against the cache, then stop: what a worker, a Slurm task or a Kubernetes Indexed Job runs");
    private readonly Option<bool> collectOption = Opt.Flag("--collect", "build the report from the cache only, training nothing; an experiment with a seed missing is reported failed");
    private readonly Option<int> jobsOption = Opt.Int("--jobs", "units run at once, each in a worker process of its own", 1, 1, 256);
    private readonly Option<int?> threadsOption = Opt.IntOrNull("--threads", "torch threads of this process and of each worker; numbers depend on it in the last bits, so compare runs with equal threads", 1, 256, "torch's default, one per core");
    private readonly Option<bool> slurmOption = Opt.Flag("--slurm", "submit the units still to run to Slurm: one job array per dependency level, chained with afterok, then a job that writes the report");
    private readonly Option<string?> partitionOption = Opt.Text("--partition", "P", "with --slurm: the partition", defaultText: "the cluster's default");
    private readonly Option<string?> timeOption = Opt.Text("--time", "T", "with --slurm: each task's time limit, in Slurm's format (e.g. 4:00:00)", defaultText: "the partition's");
    private readonly Option<string?> slurmDirOption = Opt.Text("--slurm-dir", "DIR", "with --slurm: where the batch scripts and the tasks' logs go", defaultText: "CACHE/slurm/TIME");
    private readonly Option<bool> dryRunOption = Opt.Flag("--dry-run", "with --slurm: write the scripts and print the sbatch commands, submit nothing");
    private readonly Option<DateTime?> sinceOption = Opt.ParsedValue("--since", "TIME", "with --collect: units finished at or after TIME (UTC, ISO 8601) count as run by this reproduction, the rest as cached", ParseTime, "none");
    private readonly Option<string?> deviceOption = Opt.Text("--device", "cpu|cuda", "where torch computes", defaultText: "cpu");

    public ReproduceCommand()
        : base("reproduce", "run the paper's experiments (experiments/*.json) and write a report that decides C1–C6", """
            Finished work is cached by a hash of everything that determines it: rerunning, or starting
            again after a kill, skips it. The work is a plan of units (trainings, seeds, collects):
            --plan prints it, --unit ID runs one, --jobs N runs N at once in worker processes, --slurm
            submits them to a cluster, and --collect (or reproduce again) builds the report from the cache.
            """)
    {
        Declare([profileOption, seedsOption, onlyOption, outOption, specsOption, cacheOption, gpt2Option, textDataOption,
            llamaOption, llamaVirtualOption, llamaLengthOption, llamaPromptOption, planOption, unitOption, collectOption, jobsOption, threadsOption, slurmOption, partitionOption, timeOption, slurmDirOption, dryRunOption, sinceOption, deviceOption]);
    }

    protected override int Run(ParseResult parse)
    {
        var profile = parse.GetValue(profileOption) ?? Profiles.Get(Profiles.Quick);
        int seeds = parse.GetValue(seedsOption) ?? Profiles.DefaultSeeds(profile);
        var only = parse.GetValue(onlyOption) is { Length: > 0 } names ? names : null;
        string output = parse.GetRequiredValue(outOption);
        string specsDirectory = parse.GetValue(specsOption) ?? DefaultSpecs();
        string cacheDirectory = parse.GetValue(cacheOption) ?? Path.Combine("runs", "reproduce", profile.Name);
        string? gpt2 = parse.GetValue(gpt2Option);
        string? textData = parse.GetValue(textDataOption);
        string? unit = parse.GetValue(unitOption);
        bool plan = parse.GetValue(planOption), collect = parse.GetValue(collectOption), slurm = parse.GetValue(slurmOption);
        int jobs = parse.GetValue(jobsOption);
        int? threads = parse.GetValue(threadsOption);
        PrefixLabException.Check((gpt2 is null) == (textData is null), "--gpt2 DIR and --text-data FILE go together");
        string? llama = parse.GetValue(llamaOption);
        var llamaOverrides = new LlamaOverrides(parse.GetValue(llamaVirtualOption), parse.GetValue(llamaLengthOption), LlamaPrompt(parse.GetValue(llamaPromptOption)));
        PrefixLabException.Check(llama is not null || llamaOverrides == new LlamaOverrides(), "--llama-virtual-tokens, --llama-length and --llama-prompt go with --llama DIR");
        PrefixLabException.Check(new[] { plan, unit is not null, collect, slurm }.Count(m => m) <= 1, "--plan, --unit, --collect and --slurm are different ways to run: give one");
        PrefixLabException.Check(jobs == 1 || !(unit is not null || collect || slurm), "--jobs goes with a plain reproduce or --plan, not with --unit, --collect or --slurm");
        PrefixLabException.Check(slurm || !(parse.GetResult(partitionOption) is not null || parse.GetResult(timeOption) is not null || parse.GetResult(slurmDirOption) is not null || parse.GetValue(dryRunOption)),
            "--partition, --time, --slurm-dir and --dry-run go with --slurm");
        PrefixLabException.Check(collect || parse.GetResult(sinceOption) is null, "--since goes with --collect");
        Devices.Select(parse.GetValue(deviceOption) ?? Devices.Cpu);
        bool writesReport = !plan && unit is null;
        if (writesReport)
        {
            new OutputPlan().Directory("--out", output, "report.md", "index.html", "results.json").Directory("--out's figures", Path.Combine(output, "figures"))
                .Input("--specs", specsDirectory).Input("--gpt2", gpt2).Input("--text-data", textData).Input("--llama", llama).Check();
        }
        new OutputPlan().Directory("--cache", cacheDirectory).Input("--specs", specsDirectory).Input("--gpt2", gpt2).Input("--text-data", textData).Input("--llama", llama).Check();
        if (threads is int t)
        {
            TorchSharp.torch.set_num_threads(t);
        }

        var specs = SpecLoader.LoadDirectory(specsDirectory);
        if (only is not null)
        {
            var unknown = only.FirstOrDefault(n => specs.All(s => s.Name != n));
            PrefixLabException.Check(unknown is null, $"no spec named '{unknown}' (known: {string.Join(", ", specs.Select(s => s.Name))})");
            specs = [.. specs.Where(s => only.Contains(s.Name))];
        }
        // The Llama folder is checked before any spec loads or anything runs.
        var llamaRunners = llama is null ? [] : LlamaRunner.For(llama, llamaOverrides);
        specs = [.. specs.Select(s => LlamaRunner.Apply(s, llamaOverrides))];
        IEnumerable<IExperimentRunner> runners = gpt2 is null ? Engine.BuiltInRunners : [.. Engine.BuiltInRunners, new Gpt2SpreadRunner(gpt2, textData!)];
        runners = [.. runners, .. llamaRunners];
        var engine = new Engine(runners, new ResultCache(cacheDirectory), profile, seeds);
        engine.Validate(specs);
        var units = new ReproduceUnits(engine, specs, WorkerArguments(parse, profile, seeds, specsDirectory, cacheDirectory));
        if (plan)
        {
            units.PrintPlan(jobs);
            return 0;
        }
        if (unit is not null)
        {
            units.RunUnit(unit);
            return 0;
        }
        if (slurm)
        {
            var options = new SlurmOptions(parse.GetValue(slurmDirOption) ?? Path.Combine(cacheDirectory, "slurm", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture)),
                parse.GetValue(partitionOption), parse.GetValue(timeOption), threads);
            units.Submit(options, Path.GetFullPath(output), parse.GetValue(dryRunOption));
            return 0;
        }

        string command = string.Join(' ', new[] { "prefixlab", "reproduce" }.Concat(Environment.GetCommandLineArgs().Skip(2)));
        Reproduction reproduction;
        if (collect)
        {
            reproduction = engine.Collect(specs, command, parse.GetValue(sinceOption));
        }
        else if (jobs > 1)
        {
            reproduction = units.RunInWorkers(jobs, command);
        }
        else
        {
            Console.WriteLine($"reproduce: {specs.Count} experiment(s), profile {profile.Name}, {seeds} seed(s); estimated {Durations.Format(engine.Estimate(specs))} if nothing is cached and the machine is free");
            var progress = new EngineProgressPrinter();
            reproduction = engine.Run(specs, command, progress.Report);
            progress.Finish();
        }
        return Report(output, reproduction, collect ? null : jobs > 1 ? units.SeedsRun : engine.SeedsRun);
    }

    /// <summary>Writes the report and prints each experiment's and claim's verdict; 1 if an experiment failed. A collect ran no seeds (null).</summary>
    private static int Report(string output, Reproduction reproduction, int? seedsRun)
    {
        ReproductionReport.Write(output, reproduction);
        foreach (var o in reproduction.Experiments)
        {
            Console.WriteLine($"{o.Name,-16} {o.Status,-12} {(o.Message ?? string.Join(", ", o.Rules.Select(r => $"{r.Claim} {ReproductionReport.Words(r.Verdict).Trim('*')}")))}");
        }
        foreach (var claim in reproduction.Claims)
        {
            Console.WriteLine($"{claim.Claim}: {ReproductionReport.Words(claim.Verdict).Trim('*')}");
        }
        Console.WriteLine(seedsRun is { } ran
            ? $"ran {ran} experiment seed(s), the rest from the cache; {Durations.Format(TimeSpan.FromSeconds(reproduction.Seconds))}"
            : $"collected {reproduction.Experiments.Count} experiment(s) from the cache");
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

    /// <summary>
    /// The options a worker needs to see the same plan and cache as this process, paths made absolute
    /// (a Slurm task starts elsewhere): profile, seeds, specs, cache, --only, the GPT-2 inputs, threads, device.
    /// </summary>
    private List<string> WorkerArguments(ParseResult parse, Profile profile, int seeds, string specs, string cache)
    {
        List<string> args = ["reproduce", "--profile", profile.Name, "--seeds", seeds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--specs", Path.GetFullPath(specs), "--cache", Path.GetFullPath(cache)];
        if (parse.GetValue(onlyOption) is { Length: > 0 } only)
        {
            args.AddRange(["--only", string.Join(',', only)]);
        }
        if (parse.GetValue(gpt2Option) is { } gpt2)
        {
            args.AddRange(["--gpt2", Path.GetFullPath(gpt2), "--text-data", Path.GetFullPath(parse.GetValue(textDataOption)!)]);
        }
        if (parse.GetValue(llamaOption) is { } llama)
        {
            args.AddRange(["--llama", Path.GetFullPath(llama)]);
            foreach (var (option, value) in new (string, object?)[] { ("--llama-virtual-tokens", parse.GetValue(llamaVirtualOption)), ("--llama-length", parse.GetValue(llamaLengthOption)), ("--llama-prompt", parse.GetValue(llamaPromptOption)) })
            {
                if (value is not null)
                {
                    args.AddRange([option, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!]);
                }
            }
        }
        if (parse.GetValue(threadsOption) is int threads)
        {
            args.AddRange(["--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        if (parse.GetValue(deviceOption) is { } device)
        {
            args.AddRange(["--device", device]);
        }
        return args;
    }

    /// <summary>The ids of <c>--llama-prompt</c> ("1 450 4996"; empty for none), or null when it is not given.</summary>
    private static int[]? LlamaPrompt(string? text)
    {
        if (text is null)
        {
            return null;
        }
        var parts = text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
        PrefixLabException.Check(parts.All(p => int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)),
            $"--llama-prompt: '{text}' is not a list of token ids (e.g. \"1 450 4996\")");
        return [.. parts.Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture))];
    }

    private static DateTime ParseTime(string text) =>
        DateTime.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new PrefixLabException($"--since: '{text}' is not a time (e.g. 2026-12-03T16:40:00Z)");

    /// <summary><c>experiments/</c> in the working directory (a checkout), else the copy the build puts beside the app.</summary>
    private static string DefaultSpecs()
    {
        string here = Path.Combine(Directory.GetCurrentDirectory(), "experiments");
        return Directory.Exists(here) ? here : Path.Combine(AppContext.BaseDirectory, "experiments");
    }
}
