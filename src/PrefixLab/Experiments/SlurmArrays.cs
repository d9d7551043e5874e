using System.Diagnostics;
using System.Globalization;
using System.Text;
using PrefixLab.Util;

namespace PrefixLab.Experiments;

/// <summary>Where and how <c>reproduce --slurm</c> submits.</summary>
/// <param name="Directory">Where the batch scripts and the tasks' logs go.</param>
/// <param name="Partition">The partition (<c>--partition</c>), or the cluster's default.</param>
/// <param name="Time">The time limit of each task (<c>--time</c>, Slurm's format), or the partition's.</param>
/// <param name="CpusPerTask">CPUs per task (<c>--cpus-per-task</c>), or Slurm's default.</param>
public sealed record SlurmOptions(string Directory, string? Partition = null, string? Time = null, int? CpusPerTask = null);

/// <summary>One batch script: a job array of one dependency level, or the final collect.</summary>
/// <param name="Script">Its path.</param>
/// <param name="Name">The job name.</param>
/// <param name="Units">The units its tasks run, task i the i-th (none for the collect).</param>
public sealed record SlurmJob(string Script, string Name, IReadOnlyList<string> Units);

/// <summary>
/// <c>reproduce --slurm</c>: the units not yet in the cache as Slurm job arrays, one array per
/// dependency level, task i of an array running <c>reproduce --unit ID</c> of its level's i-th unit;
/// each array starts when the level before it has finished without error (<c>--dependency=afterok</c>),
/// and a last job collects the report. Tasks are requeueable (<c>--requeue</c>): a task that Slurm
/// requeues (a node lost, a preemption, <c>scontrol requeue</c>) starts its unit again, which breaks its
/// own stale lock and resumes training from the last checkpoint.
/// </summary>
public static class SlurmArrays
{
    /// <summary>
    /// Writes the scripts into <paramref name="options"/>' directory: one per level of the unfinished
    /// units of <paramref name="plan"/>, each running <paramref name="unitCommand"/> followed by
    /// <c>--unit ID</c>, and the collect running <paramref name="collectCommand"/>.
    /// </summary>
    public static IReadOnlyList<SlurmJob> Write(UnitPlan plan, Func<Unit, bool> finished, IReadOnlyList<string> unitCommand, IReadOnlyList<string> collectCommand, SlurmOptions options)
    {
        Directory.CreateDirectory(options.Directory);
        // Levels count only units still to run: one whose needs are all in the cache starts at once.
        var level = new Dictionary<string, int>();
        foreach (var unit in plan.Units.Where(u => u.Kind != UnitKind.Collect && !finished(u)))
        {
            level[unit.Id] = unit.Needs.Where(level.ContainsKey).Select(n => level[n] + 1).DefaultIfEmpty(0).Max();
        }
        var jobs = new List<SlurmJob>();
        foreach (var group in level.GroupBy(p => p.Value).OrderBy(g => g.Key))
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"level-{group.Key}");
            var units = group.Select(p => p.Key).ToList();
            var script = Header(options, $"prefixlab-{name}", Path.Combine(options.Directory, $"{name}-%a.out"))
                .AppendLine(string.Create(CultureInfo.InvariantCulture, $"#SBATCH --array=0-{units.Count - 1}"))
                .AppendLine("#SBATCH --requeue")
                .AppendLine("#SBATCH --open-mode=append")
                .AppendLine(Strict)
                .AppendLine($"units=({string.Join(' ', units.Select(Quote))})")
                .AppendLine("unit=\"${units[$SLURM_ARRAY_TASK_ID]}\"")
                .AppendLine($"{string.Join(' ', unitCommand.Select(Quote))} --unit \"$unit\" && exit 0 || code=$?")
                .Append(Requeue);
            jobs.Add(Save(options, name, script, units));
        }
        var collect = Header(options, "prefixlab-collect", Path.Combine(options.Directory, "collect.out"))
            .AppendLine(Strict)
            .AppendLine($"exec {string.Join(' ', collectCommand.Select(Quote))}");
        jobs.Add(Save(options, "collect", collect, []));
        return jobs;
    }

    /// <summary>
    /// Submits <paramref name="jobs"/> with <c>sbatch</c>, each after the one before it; returns their job
    /// ids. With <paramref name="dryRun"/> nothing is submitted: the ids are shell variables, and
    /// <paramref name="say"/> hears the commands a user can run.
    /// </summary>
    public static IReadOnlyList<string> Submit(IReadOnlyList<SlurmJob> jobs, bool dryRun, Action<string> say)
    {
        var ids = new List<string>();
        foreach (var (job, i) in jobs.Select((j, i) => (j, i)))
        {
            List<string> args = ["--parsable"];
            if (ids.Count > 0)
            {
                args.Add($"--dependency=afterok:{ids[^1]}");
            }
            args.Add(job.Script);
            if (dryRun)
            {
                // The dependency names a shell variable of an earlier line, so it goes unquoted.
                string variable = string.Create(CultureInfo.InvariantCulture, $"J{i}");
                say($"{variable}=$(sbatch {string.Join(' ', args.Select(a => a.StartsWith("--dependency", StringComparison.Ordinal) ? a : Quote(a)))})");
                ids.Add($"${variable}");
                continue;
            }
            ids.Add(Sbatch(args));
            say($"submitted {job.Name} ({(job.Units.Count > 0 ? $"{job.Units.Count} task(s)" : "the report")}) as job {ids[^1]}");
        }
        return ids;
    }

    private static string Sbatch(List<string> args)
    {
        var info = new ProcessStartInfo("sbatch") { RedirectStandardOutput = true, RedirectStandardError = true };
        args.ForEach(info.ArgumentList.Add);
        Process process;
        try
        {
            process = Process.Start(info)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new PrefixLabException("sbatch is not on the PATH: --slurm needs a Slurm client (or use --dry-run to write the scripts only)");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            PrefixLabException.Check(process.ExitCode == 0 && stdout.Length > 0, $"sbatch {string.Join(' ', args)} failed: {stderr.Result.Trim()}");
            // --parsable prints "ID" or "ID;CLUSTER".
            return stdout.Split(';')[0];
        }
    }

    /// <summary>
    /// The end of a task whose unit failed. A unit killed by a signal (the OOM killer, a lost process:
    /// exit code above 128) goes back to the queue, up to <see cref="Requeues"/> times, and starts again
    /// from its checkpoint; an error of the unit itself fails the task and stops the chain.
    /// </summary>
    private static readonly string Requeue = $$"""
        if [ "$code" -gt 128 ] && [ "${SLURM_RESTART_COUNT:-0}" -lt {{Requeues}} ]; then
          echo "prefixlab: unit $unit died (exit code $code): requeued, restart $(( ${SLURM_RESTART_COUNT:-0} + 1 ))" >&2
          scontrol requeue "$SLURM_JOB_ID"
        fi
        exit "$code"

        """;

    /// <summary>Bash's strict mode, after the last <c>#SBATCH</c> line: sbatch reads no directive past the first command.</summary>
    private const string Strict = "set -euo pipefail";

    /// <summary>How often a task whose unit was killed is requeued.</summary>
    public const int Requeues = 3;

    private static StringBuilder Header(SlurmOptions options, string name, string output)
    {
        var script = new StringBuilder("#!/usr/bin/env bash\n")
            .AppendLine($"#SBATCH --job-name={name}")
            .AppendLine($"#SBATCH --output={output}");
        if (options.Partition is { } partition)
        {
            script.AppendLine($"#SBATCH --partition={partition}");
        }
        if (options.Time is { } time)
        {
            script.AppendLine($"#SBATCH --time={time}");
        }
        if (options.CpusPerTask is { } cpus)
        {
            script.AppendLine(string.Create(CultureInfo.InvariantCulture, $"#SBATCH --cpus-per-task={cpus}"));
        }
        return script;
    }

    private static SlurmJob Save(SlurmOptions options, string name, StringBuilder script, IReadOnlyList<string> units)
    {
        string path = Path.GetFullPath(Path.Combine(options.Directory, $"{name}.sh"));
        AtomicFile.WriteText(path, script.ToString());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute);
        }
        return new SlurmJob(path, name, units);
    }

    /// <summary>A word for bash: single-quoted unless it is plainly safe.</summary>
    internal static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-=:,+@%".Contains(c)) ? word : $"'{word.Replace("'", "'\\''", StringComparison.Ordinal)}'";
}
