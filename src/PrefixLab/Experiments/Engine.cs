using System.Diagnostics;

namespace PrefixLab.Experiments;

/// <summary>
/// Runs specs: every seed of every experiment through its kind's runner, each finished seed's result
/// kept in the cache (a rerun or a resumed run skips it), the rules applied to the means, and the claims
/// decided over all experiments.
/// </summary>
public sealed partial class Engine
{
    private readonly Dictionary<string, IExperimentRunner> runners;
    private readonly ResultCache cache;
    private readonly Profile profile;
    private readonly int seeds;

    /// <summary>An engine with <paramref name="runners"/>, keeping files in <paramref name="cache"/>.</summary>
    public Engine(IEnumerable<IExperimentRunner> runners, ResultCache cache, Profile profile, int seeds)
    {
        PrefixLabException.Check(seeds >= 1, $"seeds must be at least 1 (got {seeds})");
        this.runners = runners.ToDictionary(r => r.Kind);
        this.cache = cache;
        this.profile = profile;
        this.seeds = seeds;
    }

    /// <summary>The runners every build has.</summary>
    public static IReadOnlyList<IExperimentRunner> BuiltInRunners { get; } =
        [new TuningRunner(), new ConstructionsRunner(), new CapacityRunner(), new CompletionCountRunner()];

    /// <summary>Seeds run by this engine so far (not cached ones): a resumed run can be checked with it.</summary>
    public int SeedsRun { get; private set; }

    /// <summary>Checks every spec whose kind this build runs; throws on the first bad one.</summary>
    public void Validate(IEnumerable<ExperimentSpec> specs)
    {
        foreach (var spec in specs)
        {
            if (runners.TryGetValue(spec.Kind, out var runner))
            {
                runner.Validate(spec);
            }
        }
    }

    /// <summary>Estimated wall time of <paramref name="specs"/> run alone with nothing cached; shared work counts once.</summary>
    public TimeSpan Estimate(IReadOnlyList<ExperimentSpec> specs) => TimeSpan.FromSeconds(Estimates(specs, skipCached: false).Sum());

    /// <summary>Per spec, the estimated seconds of the work it is the first to need (none for cached seeds, if asked).</summary>
    private double[] Estimates(IReadOnlyList<ExperimentSpec> specs, bool skipCached)
    {
        var seen = new HashSet<string>();
        return [.. specs.Select(s =>
        {
            if (!runners.TryGetValue(s.Kind, out var runner) || (skipCached && IsCached(s)))
            {
                return 0;
            }
            return Enumerable.Range(1, seeds).SelectMany(seed => runner.Plan(s, profile, (ulong)seed)).Where(w => seen.Add(w.Key)).Sum(w => w.Seconds);
        })];
    }

    /// <summary>Runs <paramref name="specs"/> in order and decides the claims.</summary>
    public Reproduction Run(IReadOnlyList<ExperimentSpec> specs, string command, Action<EngineProgress>? progress = null)
    {
        Validate(specs);
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        // The ETA scales the estimate of what is left by how long finished work took against its estimate.
        var estimates = Estimates(specs, skipCached: true);
        double doneEstimate = 0, doneActual = 0;
        var outcomes = new List<ExperimentOutcome>();
        for (int i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            double startedAt = clock.Elapsed.TotalSeconds;
            int index = i;
            void Report(string stage, Training.TrainingProgress? training)
            {
                double ratio = doneEstimate > 0 ? doneActual / doneEstimate : 1;
                double within = clock.Elapsed.TotalSeconds - startedAt;
                double left = Math.Max((estimates[index] * ratio) - within, 0) + (estimates.Skip(index + 1).Sum() * ratio);
                progress?.Invoke(new EngineProgress(index + 1, specs.Count, spec.Name, stage, training, clock.Elapsed, TimeSpan.FromSeconds(left)));
            }
            outcomes.Add(RunOne(spec, Report));
            doneEstimate += estimates[i];
            doneActual += clock.Elapsed.TotalSeconds - startedAt;
        }
        return Decide(specs, outcomes, command, started, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The reproduction of <paramref name="outcomes"/>: each claim decided over every experiment's rules.</summary>
    private Reproduction Decide(IReadOnlyList<ExperimentSpec> specs, List<ExperimentOutcome> outcomes, string command, DateTime started, double seconds)
    {
        // An optional experiment this run could not perform (its checkpoint not given) lists its rules as not
        // decided, but leaves the claim to the experiments that ran; a claim only such experiments bear on is not decided.
        var optional = specs.Where(s => s.Optional).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var notRun = outcomes.Where(o => o.Status == ExperimentStatus.NotAvailable && optional.Contains(o.Name)).Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var claims = outcomes.SelectMany(o => o.Rules).GroupBy(r => r.Claim).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new ClaimVerdict(g.Key, g.Where(r => !notRun.Contains(r.Experiment)).Select(r => r.Verdict).DefaultIfEmpty(Verdict.NotDecided).Aggregate(Rules.Combine), [.. g])).ToList();
        string machine = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
        return new Reproduction(profile, seeds, command, started, seconds, machine, outcomes, claims);
    }

    private bool IsCached(ExperimentSpec spec) =>
        runners.TryGetValue(spec.Kind, out var runner) && Enumerable.Range(1, seeds).All(s => cache.Read<SeedResult>("results", SeedKey(spec, runner, (ulong)s)) is not null);

    private ExperimentOutcome RunOne(ExperimentSpec spec, Action<string, Training.TrainingProgress?> report)
    {
        var clock = Stopwatch.StartNew();
        if (!runners.TryGetValue(spec.Kind, out var runner))
        {
            var unavailable = Unavailable(spec);
            report(unavailable.Message!, null);
            return unavailable;
        }
        var results = new List<SeedResult>();
        bool ranAny = false;
        try
        {
            for (ulong seed = 1; seed <= (ulong)seeds; seed++)
            {
                string key = SeedKey(spec, runner, seed);
                var result = cache.Read<SeedResult>("results", key);
                if (result is null)
                {
                    var context = new RunContext(profile, seed, cache, (stage, p) => report($"seed {seed}: {stage}", p));
                    result = runner.Run(spec, context);
                    cache.Write("results", key, result);
                    SeedsRun++;
                    ranAny = true;
                }
                results.Add(result);
            }
        }
        catch (PrefixLabException e)
        {
            return Outcome(spec, ExperimentStatus.Failed, e.Message, runner.ScaledDown(spec, profile), results, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // An unexpected fault (a native error from libtorch, a bug) fails this experiment, not the whole
            // reproduction: the finished seeds stay cached, the report names the fault, and the other
            // experiments still run. The CLI exits non-zero when any experiment failed.
            return Outcome(spec, ExperimentStatus.Failed, $"unexpected {e.GetType().Name}: {e.Message}", runner.ScaledDown(spec, profile), results, clock.Elapsed.TotalSeconds);
        }
        return Outcome(spec, ranAny ? ExperimentStatus.Done : ExperimentStatus.Cached, null, runner.ScaledDown(spec, profile), results, ranAny ? clock.Elapsed.TotalSeconds : 0);
    }

    // A spec that says what it needs (a checkpoint, a data set) gets that as the reason, not a missing kind.
    private ExperimentOutcome Unavailable(ExperimentSpec spec) =>
        Outcome(spec, ExperimentStatus.NotAvailable, spec.Requires is { } needs ? $"needs {needs}" : $"kind '{spec.Kind}' is not available in this build", [], [], 0);

    // Runners that read nothing but their spec keep the key they had before InputsKey existed, so
    // results cached then stay valid.
    private string SeedKey(ExperimentSpec spec, IExperimentRunner runner, ulong seed) => runner.InputsKey.Length == 0
        ? ResultCache.Key(new { spec = spec.Source, runner = runner.Kind, runner.Version, profile, seed })
        : ResultCache.Key(new { spec = spec.Source, runner = runner.Kind, runner.Version, inputs = runner.InputsKey, profile, seed });

    private ExperimentOutcome Outcome(ExperimentSpec spec, ExperimentStatus status, string? message, IReadOnlyList<string> scaledDown, IReadOnlyList<SeedResult> results, double seconds)
    {
        // A metric counts only if every seed measured it, so a mean is never over fewer seeds than claimed.
        List<string> names = results.Count == 0 ? [] : results.Select(r => r.Metrics.Keys).Aggregate((a, b) => a.Intersect(b)).ToList();
        // An accuracy's interval includes the sampling error of its test samples, which the runner declares.
        var metrics = names.ToDictionary(n => n, n => MetricSummary.Of([.. results.Select(r => r.Metrics[n])], Declarations.Trials(spec, profile, n)));
        if (status == ExperimentStatus.Failed)
        {
            metrics.Clear();
        }
        var rules = spec.Rules.Select(r => Rules.Decide(spec.Name, r, metrics)).ToList();
        var notes = results.SelectMany((r, i) => r.Notes.Select(n => results.Count > 1 ? $"seed {i + 1}: {n}" : n)).ToList();
        return new ExperimentOutcome(spec.Name, spec.Title, spec.Kind, spec.Claims, spec.Description, status, message, metrics, spec.Paper, rules, scaledDown, notes, seconds);
    }
}
