using System.Diagnostics;
using PrefixLab.Training;

namespace PrefixLab.Experiments;

/// <summary>When and where a unit finished, kept in the cache beside its result (<c>units/KEY.json</c>).</summary>
/// <param name="Unit">The unit's id.</param>
/// <param name="Seconds">Its wall time.</param>
/// <param name="Finished">When it finished (UTC).</param>
/// <param name="Host">The machine that ran it.</param>
public sealed record UnitRecord(string Unit, double Seconds, DateTime Finished, string Host);

/// <summary>
/// The engine as plan → units → collect: the same work as <see cref="Run"/>, cut into units that worker
/// processes (<c>reproduce --jobs N</c>, Slurm array tasks) run one at a time against the shared cache,
/// and a collect that builds the reproduction from the cache.
/// </summary>
public sealed partial class Engine
{
    /// <summary>The units of <paramref name="specs"/> and their dependencies.</summary>
    public UnitPlan Plan(IReadOnlyList<ExperimentSpec> specs) => UnitPlan.Build(runners, specs, profile, seeds, SeedKey);

    /// <summary>Whether <paramref name="unit"/>'s output is in the cache (a collect is never: it is cheap and always redone).</summary>
    public bool IsFinished(Unit unit) => unit.Kind switch
    {
        UnitKind.Train => File.Exists(cache.PathOf("models", unit.Key, ".safetensors")) || File.Exists(cache.PathOf("runs", unit.Key, ".safetensors")),
        UnitKind.Seed => cache.Read<SeedResult>("results", unit.Key) is not null,
        _ => false,
    };

    /// <summary>
    /// Runs one unit of <paramref name="specs"/>' plan against the cache: a training, a seed (under a
    /// lock, so that two workers never run the same seed; a seed already stored is skipped), or a collect
    /// (which fails, naming them, when seeds are missing).
    /// </summary>
    public void RunUnit(Unit unit, IReadOnlyList<ExperimentSpec> specs, Action<string, TrainingProgress?>? report = null)
    {
        var spec = specs.Single(s => s.Name == unit.Spec);
        var runner = runners[spec.Kind];
        runner.Validate(spec);
        var clock = Stopwatch.StartNew();
        var context = new RunContext(profile, unit.Seed, cache, report ?? ((_, _) => { }));
        switch (unit.Kind)
        {
            case UnitKind.Train:
                runner.Train(spec, context, unit.Key);
                break;
            case UnitKind.Seed:
                using (UnitLock.Acquire(cache.Root, unit.Key, holder => context.Report($"waiting for {holder}, which runs this seed", null)))
                {
                    if (cache.Read<SeedResult>("results", unit.Key) is not null)
                    {
                        return;
                    }
                    cache.Write("results", unit.Key, runner.Run(spec, context));
                    SeedsRun++;
                }
                break;
            default:
                var outcome = Collected(spec, null, null);
                PrefixLabException.Check(outcome.Status != ExperimentStatus.Failed, $"{unit.Id}: {outcome.Message}");
                return;
        }
        cache.Write("units", unit.Key, new UnitRecord(unit.Id, clock.Elapsed.TotalSeconds, DateTime.UtcNow, Environment.MachineName));
    }

    /// <summary>
    /// Builds the reproduction of <paramref name="specs"/> from the cache, training nothing. An
    /// experiment counts as run (not cached) when a unit of it finished at or after
    /// <paramref name="since"/>; one with a seed missing fails, with the reason <paramref name="failures"/>
    /// gives by unit id, if any.
    /// </summary>
    public Reproduction Collect(IReadOnlyList<ExperimentSpec> specs, string command, DateTime? since = null, IReadOnlyDictionary<string, string>? failures = null)
    {
        Validate(specs);
        var started = DateTime.UtcNow;
        var clock = Stopwatch.StartNew();
        var plan = Plan(specs);
        var counted = new HashSet<string>();
        var outcomes = new List<ExperimentOutcome>();
        foreach (var spec in specs)
        {
            // A shared training's time goes to the first experiment that needed it, as in one process.
            var units = plan.Units.Where(u => u.Spec == spec.Name || (u.Kind == UnitKind.Train && plan.Units.Any(s => s.Spec == spec.Name && s.Needs.Contains(u.Id))));
            var fresh = units.Where(u => counted.Add(u.Id)).Select(u => cache.Read<UnitRecord>("units", u.Key)).OfType<UnitRecord>().Where(r => since is { } t && r.Finished >= t).ToList();
            outcomes.Add(Collected(spec, fresh.Count > 0 ? fresh.Sum(r => r.Seconds) : null, failures));
        }
        return Decide(specs, outcomes, command, started, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// <paramref name="spec"/>'s outcome from its stored seeds: run in <paramref name="seconds"/> when
    /// given, else cached; failed with the first reason there is when a seed is missing.
    /// </summary>
    private ExperimentOutcome Collected(ExperimentSpec spec, double? seconds, IReadOnlyDictionary<string, string>? failures)
    {
        if (!runners.TryGetValue(spec.Kind, out var runner))
        {
            return Unavailable(spec);
        }
        var results = new List<SeedResult>();
        var units = Plan([spec]).Units;
        for (ulong seed = 1; seed <= (ulong)seeds; seed++)
        {
            if (cache.Read<SeedResult>("results", SeedKey(spec, runner, seed)) is { } result)
            {
                results.Add(result);
                continue;
            }
            string id = $"{spec.Name}/seed-{seed}";
            string why = failures?.FirstOrDefault(f => units.Any(u => u.Id == id && (f.Key == id || u.Needs.Contains(f.Key)))).Value
                ?? $"unit {id} has not run (prefixlab reproduce --unit {id}, or reproduce without --collect)";
            return Outcome(spec, ExperimentStatus.Failed, why, runner.ScaledDown(spec, profile), results, seconds ?? 0);
        }
        return Outcome(spec, seconds is null ? ExperimentStatus.Cached : ExperimentStatus.Done, null, runner.ScaledDown(spec, profile), results, seconds ?? 0);
    }
}
