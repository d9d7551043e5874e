using System.Diagnostics;
using System.Globalization;
using PrefixLab.Experiments;
using PrefixLab.Util;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>reproduce</c> as plan → units → collect: prints the plan, runs one unit, runs the units in
/// worker processes, or submits them to Slurm. Workers and Slurm tasks are this same program with
/// <c>reproduce --unit ID</c> and <paramref name="workerArguments"/>, so they see the same plan and cache.
/// </summary>
/// <param name="engine">The engine over the cache.</param>
/// <param name="specs">The specs of this reproduction.</param>
/// <param name="workerArguments"><c>reproduce</c> and the options that fix the plan and the cache, paths absolute.</param>
internal sealed class ReproduceUnits(Engine engine, IReadOnlyList<ExperimentSpec> specs, IReadOnlyList<string> workerArguments)
{
    /// <summary>The node counts whose wall time <c>--plan</c> prints.</summary>
    public static readonly int[] Nodes = [1, 8, 64];

    /// <summary>Seeds the workers of <see cref="RunInWorkers"/> ran.</summary>
    public int SeedsRun { get; private set; }

    /// <summary>Prints every unit with what it needs and its estimate, then the totals and the wall times.</summary>
    public void PrintPlan(int jobs)
    {
        var plan = engine.Plan(specs);
        var levels = plan.Levels();
        Console.WriteLine($"plan: {plan.Units.Count} units ({Count(plan, UnitKind.Train)} trainings, {Count(plan, UnitKind.Seed)} seeds, {Count(plan, UnitKind.Collect)} collects); estimates are wall times alone on this machine ({Environment.ProcessorCount} cores)");
        Console.WriteLine($"{"level",5}  {"unit",-34} {"estimate",9}  {"state",-7}  what");
        foreach (var unit in plan.Units)
        {
            string state = unit.Kind == UnitKind.Collect ? "" : engine.IsFinished(unit) ? "cached" : "to run";
            Console.WriteLine($"{levels[unit.Id],5}  {unit.Id,-34} {Durations.Format(TimeSpan.FromSeconds(unit.Seconds)),9}  {state,-7}  {unit.Label}");
            if (unit.Needs.Count > 0)
            {
                Console.WriteLine($"{"",7}after {string.Join(", ", unit.Needs)}");
            }
        }
        double total = plan.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"total: {Durations.Format(TimeSpan.FromSeconds(total))} of this machine, {total * Environment.ProcessorCount / 3600:F1} CPU-hours ({Environment.ProcessorCount} cores); critical path {Durations.Format(TimeSpan.FromSeconds(plan.CriticalPathSeconds()))}"));
        Console.WriteLine("wall time on N nodes as fast as this machine, one unit per node at a time, nothing cached:");
        foreach (int n in Nodes.Append(jobs).Distinct().Order())
        {
            Console.WriteLine($"  {n,3} node(s): {Durations.Format(TimeSpan.FromSeconds(plan.WallSeconds(n)))}");
        }
    }

    /// <summary>Runs the unit <paramref name="id"/> in this process.</summary>
    public void RunUnit(string id)
    {
        var unit = engine.Plan(specs).Get(id);
        var clock = Stopwatch.StartNew();
        if (engine.IsFinished(unit))
        {
            Console.WriteLine($"unit {id}: in the cache already");
            return;
        }
        var progress = new EngineProgressPrinter();
        engine.RunUnit(unit, specs, (stage, training) => progress.Report(new EngineProgress(1, 1, id, stage, training, clock.Elapsed, TimeSpan.FromSeconds(Math.Max(unit.Seconds - clock.Elapsed.TotalSeconds, 0)))));
        progress.Finish();
        Console.WriteLine($"unit {id}: done in {Durations.Format(clock.Elapsed)}");
    }

    /// <summary>Runs the units still to run in <paramref name="jobs"/> worker processes, then collects the reproduction from the cache.</summary>
    public Reproduction RunInWorkers(int jobs, string command)
    {
        var since = DateTime.UtcNow;
        var plan = engine.Plan(specs);
        var todo = plan.Units.Where(u => u.Kind != UnitKind.Collect && !engine.IsFinished(u)).ToList();
        Console.WriteLine($"reproduce: {specs.Count} experiment(s), {todo.Count} unit(s) to run in up to {jobs} worker processes; estimated {Durations.Format(TimeSpan.FromSeconds(todo.Sum(u => u.Seconds)))} of work");
        var clock = Stopwatch.StartNew();
        var pool = new WorkerPool(jobs, unit => StartInfo([.. workerArguments, "--unit", unit.Id]));
        var failures = pool.Run(plan, engine.IsFinished, e =>
        {
            string what = e.Seconds is not { } seconds ? $"started, estimated {Durations.Format(TimeSpan.FromSeconds(e.Unit.Seconds))}"
                : e.Error is { } error ? $"FAILED after {Durations.Format(TimeSpan.FromSeconds(seconds))}: {error}"
                : $"done in {Durations.Format(TimeSpan.FromSeconds(seconds))}";
            Console.Error.WriteLine($"[{Durations.Format(clock.Elapsed)}] worker {e.Worker}: {e.Unit.Id} ({e.Unit.Label}) {what}");
            SeedsRun += e.Seconds is not null && e.Error is null && e.Unit.Kind == UnitKind.Seed ? 1 : 0;
        });
        return engine.Collect(specs, command, since, failures);
    }

    /// <summary>Writes the Slurm scripts of the units still to run and submits them (or prints the commands).</summary>
    public void Submit(SlurmOptions options, string output, bool dryRun)
    {
        var plan = engine.Plan(specs);
        string since = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture);
        var self = Self();
        var jobs = SlurmArrays.Write(plan, engine.IsFinished, [.. self, .. workerArguments], [.. self, .. workerArguments, "--collect", "--since", since, "--out", output], options);
        Console.WriteLine($"wrote {jobs.Count} batch script(s) in {Path.GetFullPath(options.Directory)}: {string.Join(", ", jobs.Select(j => j.Units.Count > 0 ? $"{j.Name} ({j.Units.Count} task(s))" : j.Name))}");
        var ids = SlurmArrays.Submit(jobs, dryRun, Console.WriteLine);
        Console.WriteLine(dryRun
            ? "nothing submitted (--dry-run)"
            : $"the report goes to {output} when job {ids[^1]} ends (squeue shows the jobs; the tasks' logs are beside the scripts)");
    }

    /// <summary>A worker: this program with <paramref name="arguments"/>.</summary>
    private static ProcessStartInfo StartInfo(IReadOnlyList<string> arguments)
    {
        var self = Self();
        var info = new ProcessStartInfo(self[0]);
        foreach (var argument in self.Skip(1).Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }
        return info;
    }

    /// <summary>This program: its executable, or the dotnet host and the assembly when run as <c>dotnet PrefixLab.Cli.dll</c>.</summary>
    private static List<string> Self()
    {
        string process = Environment.ProcessPath ?? "prefixlab";
        return Path.GetFileNameWithoutExtension(process) == "dotnet" ? [process, typeof(ReproduceUnits).Assembly.Location] : [process];
    }

    private static int Count(UnitPlan plan, UnitKind kind) => plan.Units.Count(u => u.Kind == kind);
}
