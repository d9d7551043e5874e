using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Tests.Cli;
using Xunit.Abstractions;

namespace PrefixLab.Tests.Experiments;

/// <summary>The smoke profile with 2 seeds run by one process: the numbers the parallel runs must equal.</summary>
public sealed class OneProcessSmoke
{
    public OneProcessSmoke()
    {
        Directory = TestModels.TempDirectory();
        var clock = Stopwatch.StartNew();
        var (code, _, stderr) = CliTests.Run(Args(Directory, "one"));
        Assert.True(code == 0, stderr);
        Seconds = clock.Elapsed.TotalSeconds;
        Results = File.ReadAllText(Path.Combine(Directory, "one", "results.json"));
    }

    public string Directory { get; }

    public string Results { get; }

    public double Seconds { get; }

    /// <summary><c>reproduce</c> of the smoke profile with 2 seeds, its report in DIR/NAME and its cache in DIR/NAME-cache.</summary>
    public static string[] Args(string directory, string name) =>
        ["reproduce", "--profile", "smoke", "--seeds", "2", "--specs", SpecTests.SpecsDirectory(), "--cache", Path.Combine(directory, $"{name}-cache"), "--out", Path.Combine(directory, name)];
}

/// <summary>
/// <c>reproduce --jobs 2</c> and <c>reproduce --slurm</c> on a one-node Slurm cluster on this machine
/// (scripts/slurm-local.sh) give the smoke profile's results.json of one process, every number and
/// verdict equal (timings and the command line aside).
/// </summary>
public class ParallelReproductionTests(OneProcessSmoke one, ITestOutputHelper output) : IClassFixture<OneProcessSmoke>
{
    [Fact]
    public void Two_worker_processes_give_the_numbers_of_one_process()
    {
        var clock = Stopwatch.StartNew();
        var (code, stdout, stderr) = CliTests.Run([.. OneProcessSmoke.Args(one.Directory, "jobs2"), "--jobs", "2"]);
        Assert.True(code == 0, stderr);
        output.WriteLine($"one process {one.Seconds:F0} s, --jobs 2 {clock.Elapsed.TotalSeconds:F0} s (load {File.ReadAllText("/proc/loadavg").Trim()})");
        Assert.Contains("worker 2:", stderr);
        // Every spec runs both seeds but those that need a checkpoint this machine lacks ("requires").
        int runnable = Directory.GetFiles(SpecTests.SpecsDirectory(), "*.json").Count(f => JsonNode.Parse(File.ReadAllText(f))!.AsObject()["requires"] is null);
        Assert.Contains($"ran {2 * runnable} experiment seed(s)", stdout);
        AssertSameResults(one.Results, File.ReadAllText(Path.Combine(one.Directory, "jobs2", "results.json")));
    }

    [SkippableFact]
    public void Slurm_job_arrays_give_the_numbers_of_one_process()
    {
        string script = TestModels.AboveTestBinaries(Path.Combine("scripts", "slurm-local.sh"), File.Exists);
        Skip.If(Environment.UserName != "root", "the local Slurm cluster needs root (slurmd runs jobs as their users)");
        string state = TestModels.TempDirectory();
        var environment = new Dictionary<string, string> { ["SLURM_LOCAL_DIR"] = state, ["SLURM_LOCAL_PORT"] = (7000 + (Environment.ProcessId % 500 * 2)).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var (started, startOut, startErr) = Shell(environment, script, "start");
        Skip.If(started != 0, $"the local Slurm cluster did not start: {startErr.Trim().Split('\n').LastOrDefault()}");
        try
        {
            environment["SLURM_CONF"] = Path.Combine(state, "slurm.conf");
            Assert.Contains("export SLURM_CONF=", startOut);
            var clock = Stopwatch.StartNew();
            var (code, stdout, stderr) = CliTests.RunWith(environment, [.. OneProcessSmoke.Args(one.Directory, "slurm"), "--slurm", "--slurm-dir", Path.Combine(one.Directory, "slurm-jobs")]);
            Assert.True(code == 0, stderr);
            Assert.Contains("submitted level-0", stdout);
            string results = Path.Combine(one.Directory, "slurm", "results.json");
            string? killed = null;
            while (!File.Exists(results) && clock.Elapsed < TimeSpan.FromMinutes(20))
            {
                // One training dies mid-way (kill -9 of its process): its task must be requeued and finish.
                killed ??= KillOneTraining(Path.Combine(one.Directory, "slurm-cache"));
                var (_, queue, _) = Shell(environment, "squeue", "-h", "-o", "%i %j %T %r");
                if (queue.Trim().Length == 0 || queue.Contains("DependencyNeverSatisfied", StringComparison.Ordinal))
                {
                    break;
                }
                Thread.Sleep(500);
            }
            string logs = string.Join('\n', Directory.GetFiles(Path.Combine(one.Directory, "slurm-jobs"), "*.out").Select(File.ReadAllText));
            Assert.True(File.Exists(results), $"no report after the jobs ended; the tasks' logs:\n{logs}");
            output.WriteLine($"one process {one.Seconds:F0} s, Slurm {clock.Elapsed.TotalSeconds:F0} s (load {File.ReadAllText("/proc/loadavg").Trim()}); killed {killed}");
            Assert.NotNull(killed);
            Assert.Contains($"prefixlab: unit {killed} died (exit code 137): requeued, restart 1", logs);
            AssertSameResults(one.Results, File.ReadAllText(results));
        }
        finally
        {
            Shell(environment, script, "stop");
        }
    }

    /// <summary>Kills (SIGKILL) a running <c>reproduce --unit train/…</c> process of <paramref name="cache"/>; returns its unit, or null if none runs.</summary>
    private static string? KillOneTraining(string cache)
    {
        foreach (var proc in Directory.GetDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            string[] args;
            try
            {
                args = File.ReadAllText(Path.Combine(proc, "cmdline")).Split('\0');
            }
            catch (IOException)
            {
                continue; // ended meanwhile
            }
            int unit = Array.IndexOf(args, "--unit");
            if (unit < 0 || unit + 1 >= args.Length || !args[unit + 1].StartsWith("train/", StringComparison.Ordinal) || !args.Contains(cache))
            {
                continue;
            }
            try
            {
                using var process = Process.GetProcessById(int.Parse(Path.GetFileName(proc), System.Globalization.CultureInfo.InvariantCulture));
                process.Kill();
                return args[unit + 1];
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // It ended before the kill: the next one is taken.
            }
        }
        return null;
    }

    /// <summary>Every number and word of two results.json files agree but timings, the command line and the start.</summary>
    internal static void AssertSameResults(string expected, string actual)
    {
        using var a = JsonDocument.Parse(expected);
        using var b = JsonDocument.Parse(actual);
        var differences = new List<string>();
        int numbers = Compare(a.RootElement, b.RootElement, "", differences);
        Assert.True(numbers > 300, $"only {numbers} numbers compared");
        Assert.True(differences.Count == 0, string.Join('\n', differences.Take(20)));
    }

    private static readonly string[] Ignored = ["command", "started", "machine", "seconds", "time", "elapsed"];

    private static int Compare(JsonElement a, JsonElement b, string path, List<string> differences)
    {
        if (a.ValueKind != b.ValueKind)
        {
            differences.Add($"{path}: {a.ValueKind} vs {b.ValueKind}");
            return 0;
        }
        switch (a.ValueKind)
        {
            case JsonValueKind.Object:
                var names = a.EnumerateObject().Select(p => p.Name).Union(b.EnumerateObject().Select(p => p.Name));
                return names.Where(n => !Ignored.Any(i => n.Contains(i, StringComparison.OrdinalIgnoreCase))).Sum(n =>
                    a.TryGetProperty(n, out var x) && b.TryGetProperty(n, out var y) ? Compare(x, y, $"{path}.{n}", differences) : Missing($"{path}.{n}", differences));
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength())
                {
                    differences.Add($"{path}: {a.GetArrayLength()} vs {b.GetArrayLength()} items");
                    return 0;
                }
                return a.EnumerateArray().Zip(b.EnumerateArray()).Select((p, i) => Compare(p.First, p.Second, $"{path}[{i}]", differences)).Sum();
            default:
                // The raw text: a number compares exactly as written (round-trip doubles), bit for bit.
                if (a.GetRawText() != b.GetRawText())
                {
                    differences.Add($"{path}: {a.GetRawText()} vs {b.GetRawText()}");
                }
                return a.ValueKind == JsonValueKind.Number ? 1 : 0;
        }
    }

    private static int Missing(string path, List<string> differences)
    {
        differences.Add($"{path}: in one file only");
        return 0;
    }

    private static (int Code, string Stdout, string Stderr) Shell(IReadOnlyDictionary<string, string> environment, string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }
}
