namespace PrefixLab.Experiments;

/// <summary>What a unit of work does.</summary>
public enum UnitKind
{
    /// <summary>Trains a model or adapter into the cache (a base model, a tuning run), which specs and seeds may share.</summary>
    Train,

    /// <summary>Runs one seed of an experiment and stores its result.</summary>
    Seed,

    /// <summary>Checks that every seed of an experiment is stored and decides its rules.</summary>
    Collect,
}

/// <summary>One unit of a reproduction: what one worker process does with <c>reproduce --unit ID</c>.</summary>
/// <param name="Id">Its id: <c>train/KEY</c>, <c>SPEC/seed-N</c> or <c>SPEC/collect</c>.</param>
/// <param name="Kind">What it does.</param>
/// <param name="Spec">The spec it belongs to (for a shared training: the first spec that needs it).</param>
/// <param name="Seed">Its seed (0 for a collect).</param>
/// <param name="Key">Its cache key: the trained file's, or the seed result's.</param>
/// <param name="Label">What it is, in words.</param>
/// <param name="Seconds">Estimated wall time alone on this machine.</param>
/// <param name="Needs">Ids of the units that must be finished first.</param>
public sealed record Unit(string Id, UnitKind Kind, string Spec, ulong Seed, string Key, string Label, double Seconds, IReadOnlyList<string> Needs);

/// <summary>
/// The units of a reproduction and their dependencies, built from the runners' plans: every item a
/// runner marks trainable becomes a training unit (counted once however many specs and seeds share
/// it), each seed a unit after the trainings it needs, and each experiment's collect a unit after its
/// seeds. Units come in an order where every unit follows what it needs.
/// </summary>
public sealed class UnitPlan
{
    private readonly Dictionary<string, Unit> byId;

    private UnitPlan(List<Unit> units)
    {
        Units = units;
        byId = units.ToDictionary(u => u.Id);
    }

    /// <summary>Every unit, each after the units it needs.</summary>
    public IReadOnlyList<Unit> Units { get; }

    /// <summary>The unit called <paramref name="id"/>; a clear error naming a few known ids if there is none.</summary>
    public Unit Get(string id) => byId.TryGetValue(id, out var unit) ? unit
        : throw new PrefixLabException($"no unit '{id}' in this plan (e.g. {string.Join(", ", Units.Take(3).Select(u => u.Id))}; see reproduce --plan)");

    /// <summary>The plan of <paramref name="specs"/> under <paramref name="profile"/> with <paramref name="seeds"/> seeds; specs whose kind has no runner have no units.</summary>
    public static UnitPlan Build(IReadOnlyDictionary<string, IExperimentRunner> runners, IReadOnlyList<ExperimentSpec> specs, Profile profile, int seeds, Func<ExperimentSpec, IExperimentRunner, ulong, string> seedKey)
    {
        var units = new List<Unit>();
        var trainings = new Dictionary<string, Unit>();
        foreach (var spec in specs)
        {
            if (!runners.TryGetValue(spec.Kind, out var runner))
            {
                continue;
            }
            var seedIds = new List<string>();
            for (ulong seed = 1; seed <= (ulong)seeds; seed++)
            {
                var items = runner.Plan(spec, profile, seed);
                var needs = new List<string>();
                foreach (var item in items.Where(i => i.Trainable))
                {
                    string id = $"train/{item.Key}";
                    if (!trainings.ContainsKey(item.Key))
                    {
                        IReadOnlyList<string> after = item.After is { } a && trainings.ContainsKey(a) ? [$"train/{a}"] : [];
                        var unit = new Unit(id, UnitKind.Train, spec.Name, seed, item.Key, $"{spec.Name} seed {seed}: {item.Label ?? "training"}", item.Seconds, after);
                        trainings[item.Key] = unit;
                        units.Add(unit);
                    }
                    needs.Add(id);
                }
                string seedId = $"{spec.Name}/seed-{seed}";
                double rest = items.Where(i => !i.Trainable).Sum(i => i.Seconds);
                units.Add(new Unit(seedId, UnitKind.Seed, spec.Name, seed, seedKey(spec, runner, seed), $"{spec.Name} seed {seed}", rest, [.. needs.Distinct()]));
                seedIds.Add(seedId);
            }
            units.Add(new Unit($"{spec.Name}/collect", UnitKind.Collect, spec.Name, 0, "", $"{spec.Name}: rules over {seeds} seed(s)", 0, seedIds));
        }
        return new UnitPlan(units);
    }

    /// <summary>Each unit's dependency level: 0 for units that need nothing, else one more than the highest level it needs.</summary>
    public Dictionary<string, int> Levels()
    {
        var levels = new Dictionary<string, int>();
        foreach (var unit in Units)
        {
            levels[unit.Id] = unit.Needs.Count == 0 ? 0 : unit.Needs.Max(n => levels[n]) + 1;
        }
        return levels;
    }

    /// <summary>Estimated seconds of all units one after another.</summary>
    public double TotalSeconds => Units.Sum(u => u.Seconds);

    /// <summary>The longest chain of units by estimated time, in seconds: no number of workers finishes sooner.</summary>
    public double CriticalPathSeconds()
    {
        var finish = new Dictionary<string, double>();
        foreach (var unit in Units)
        {
            finish[unit.Id] = unit.Seconds + (unit.Needs.Count == 0 ? 0 : unit.Needs.Max(n => finish[n]));
        }
        return finish.Count == 0 ? 0 : finish.Values.Max();
    }

    /// <summary>Per unit, the estimated seconds of the longest chain from its start to the end: who has the most behind it goes first.</summary>
    public Dictionary<string, double> Tails()
    {
        var tail = new Dictionary<string, double>();
        foreach (var unit in Units.Reverse())
        {
            double after = Units.Where(u => u.Needs.Contains(unit.Id)).Select(u => tail[u.Id]).DefaultIfEmpty(0).Max();
            tail[unit.Id] = unit.Seconds + after;
        }
        return tail;
    }

    /// <summary>
    /// Estimated wall seconds on <paramref name="workers"/> workers, each as fast as this machine: units
    /// start as soon as what they need is done and a worker is free, the one with the longest chain
    /// behind it first (list scheduling by critical path).
    /// </summary>
    public double WallSeconds(int workers)
    {
        PrefixLabException.Check(workers >= 1, $"workers must be at least 1 (got {workers})");
        var tail = Tails();
        var done = new Dictionary<string, double>();
        var free = new PriorityQueue<int, double>();
        for (int w = 0; w < workers; w++)
        {
            free.Enqueue(w, 0);
        }
        var waiting = Units.ToList();
        while (waiting.Count > 0)
        {
            free.TryDequeue(out int worker, out double at);
            // The ready unit (all needs done) that can start earliest, longest tail first among equals.
            var next = waiting.Where(u => u.Needs.All(done.ContainsKey))
                .Select(u => (Unit: u, Start: Math.Max(at, u.Needs.Select(n => done[n]).DefaultIfEmpty(0).Max())))
                .OrderBy(c => c.Start).ThenByDescending(c => tail[c.Unit.Id]).First();
            done[next.Unit.Id] = next.Start + next.Unit.Seconds;
            waiting.Remove(next.Unit);
            free.Enqueue(worker, done[next.Unit.Id]);
        }
        return done.Count == 0 ? 0 : done.Values.Max();
    }
}
