using System.Diagnostics;

namespace PrefixLab.Experiments;

/// <summary>A unit's run in a worker process, as the pool reports it.</summary>
/// <param name="Unit">The unit.</param>
/// <param name="Worker">The worker slot (1 to N) that ran it.</param>
/// <param name="Seconds">Its wall time, once finished.</param>
/// <param name="Error">Why it failed, if it did.</param>
public sealed record UnitEvent(Unit Unit, int Worker, double? Seconds, string? Error);

/// <summary>
/// Runs the training and seed units of a plan in up to N worker processes at once (<c>reproduce --jobs
/// N</c>): a unit starts when every unit it needs has finished, the one with the longest estimated chain
/// behind it first. A unit that fails takes the units that need it with it; the others go on.
/// </summary>
/// <param name="workers">N.</param>
/// <param name="start">The process that runs one unit (the same program with <c>reproduce --unit ID</c>).</param>
public sealed class WorkerPool(int workers, Func<Unit, ProcessStartInfo> start)
{
    /// <summary>
    /// Runs every unit of <paramref name="plan"/> but the collects that <paramref name="finished"/> does
    /// not report done; returns the failed or skipped units' reasons by id.
    /// </summary>
    public IReadOnlyDictionary<string, string> Run(UnitPlan plan, Func<Unit, bool> finished, Action<UnitEvent>? report = null)
    {
        PrefixLabException.Check(workers >= 1, $"--jobs must be at least 1 (got {workers})");
        var tail = plan.Tails();
        var done = new HashSet<string>();
        var failures = new Dictionary<string, string>();
        var pending = new List<Unit>();
        foreach (var unit in plan.Units.Where(u => u.Kind != UnitKind.Collect))
        {
            if (finished(unit))
            {
                done.Add(unit.Id);
            }
            else
            {
                pending.Add(unit);
            }
        }
        var running = new List<Running>();
        while (pending.Count > 0 || running.Count > 0)
        {
            foreach (var unit in pending.Where(u => u.Needs.Any(failures.ContainsKey)).ToList())
            {
                string need = unit.Needs.First(failures.ContainsKey);
                failures[unit.Id] = failures[need].StartsWith("needs ", StringComparison.Ordinal) ? failures[need] : $"needs {need}, which failed: {failures[need]}";
                pending.Remove(unit);
            }
            var ready = pending.Where(u => u.Needs.All(done.Contains)).OrderByDescending(u => tail[u.Id]).ToList();
            foreach (var unit in ready.Take(workers - running.Count))
            {
                int slot = Enumerable.Range(1, workers).First(w => running.All(r => r.Worker != w));
                running.Add(Running.Start(unit, slot, start(unit)));
                pending.Remove(unit);
                report?.Invoke(new UnitEvent(unit, slot, null, null));
            }
            if (running.Count == 0)
            {
                break; // nothing runs and nothing can start: only units after failures were left
            }
            Task.WaitAny([.. running.Select(r => r.Exited)]);
            foreach (var ended in running.Where(r => r.Exited.IsCompleted).ToList())
            {
                running.Remove(ended);
                string? error = ended.Error();
                if (error is null)
                {
                    done.Add(ended.Unit.Id);
                }
                else
                {
                    failures[ended.Unit.Id] = error;
                }
                report?.Invoke(new UnitEvent(ended.Unit, ended.Worker, ended.Clock.Elapsed.TotalSeconds, error));
            }
        }
        return failures;
    }

    /// <summary>A worker process running one unit, with the last lines it wrote to stderr.</summary>
    private sealed class Running
    {
        private readonly Queue<string> lastErrors = new();

        private Running(Unit unit, int worker, Process process)
        {
            Unit = unit;
            Worker = worker;
            Process = process;
            Exited = process.WaitForExitAsync();
        }

        public Unit Unit { get; }

        public int Worker { get; }

        public Process Process { get; }

        public Task Exited { get; }

        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public static Running Start(Unit unit, int worker, ProcessStartInfo info)
        {
            info.RedirectStandardOutput = true;
            info.RedirectStandardError = true;
            info.UseShellExecute = false;
            var process = new Process { StartInfo = info };
            Running? running = null;
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { Length: > 0 } line && running is not null)
                {
                    lock (running.lastErrors)
                    {
                        running.lastErrors.Enqueue(line);
                        if (running.lastErrors.Count > 3)
                        {
                            running.lastErrors.Dequeue();
                        }
                    }
                }
            };
            // The worker's progress is its own; draining stdout keeps a full pipe from blocking it.
            process.OutputDataReceived += (_, _) => { };
            process.Start();
            running = new Running(unit, worker, process);
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            return running;
        }

        /// <summary>Null when the worker succeeded; else its last error line (the CLI's one-line message) or its exit code.</summary>
        public string? Error()
        {
            Process.WaitForExit(); // the end of the redirected streams
            int code = Process.ExitCode;
            Process.Dispose();
            if (code == 0)
            {
                return null;
            }
            lock (lastErrors)
            {
                string? last = lastErrors.LastOrDefault();
                // The CLI's one line is "prefixlab reproduce: error: WHY"; the reason is WHY.
                return last is null ? $"worker exited with code {code}" : System.Text.RegularExpressions.Regex.Replace(last, "^prefixlab [a-z]+: (internal )?(error: )?", "");
            }
        }
    }
}
