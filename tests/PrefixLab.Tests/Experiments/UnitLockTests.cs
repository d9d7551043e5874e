using System.Diagnostics;
using System.Text;
using PrefixLab.Experiments;
using PrefixLab.Tests.Cli;

namespace PrefixLab.Tests.Experiments;

/// <summary>
/// The lock on a unit of work: held by a live process it makes another wait, left by a killed one it is
/// broken; checked in process and with real <c>reproduce --unit</c> processes racing for one training.
/// </summary>
public class UnitLockTests
{
    [Fact]
    public void A_live_lock_is_refused_to_others_and_stale_ones_are_broken()
    {
        string root = TestModels.TempDirectory();
        using (var held = UnitLock.TryAcquire(root, "k", out _))
        {
            Assert.NotNull(held);
            Assert.Null(UnitLock.TryAcquire(root, "k", out string holder));
            Assert.Equal($"process {Environment.ProcessId} on {Environment.MachineName}", holder);
        }
        Assert.False(File.Exists(UnitLock.PathOf(root, "k")));

        // This host, a process that has ended: stale.
        using var ended = Process.Start(new ProcessStartInfo("true"))!;
        ended.WaitForExit();
        File.WriteAllText(UnitLock.PathOf(root, "dead"), $"{Environment.MachineName} {ended.Id} 1");
        using (var taken = UnitLock.TryAcquire(root, "dead", out _))
        {
            Assert.NotNull(taken);
        }

        // This host, a live pid with another start time: the pid was reused, the owner is gone.
        File.WriteAllText(UnitLock.PathOf(root, "reused"), $"{Environment.MachineName} {Environment.ProcessId} 1");
        using (var taken = UnitLock.TryAcquire(root, "reused", out _))
        {
            Assert.NotNull(taken);
        }

        // Another host: live while its owner renews the file, stale once it stops.
        string other = UnitLock.PathOf(root, "other");
        File.WriteAllText(other, "elsewhere 1234 5678");
        Assert.Null(UnitLock.TryAcquire(root, "other", out string otherHolder));
        Assert.Equal("process 1234 on elsewhere", otherHolder);
        File.SetLastWriteTimeUtc(other, DateTime.UtcNow - UnitLock.StaleAfter - TimeSpan.FromSeconds(1));
        using (var taken = UnitLock.TryAcquire(root, "other", out _))
        {
            Assert.NotNull(taken);
        }
    }

    [Fact]
    public void A_unit_waits_while_another_process_trains_it_and_never_trains_it_twice()
    {
        string cache = TestModels.TempDirectory();
        var (unit, modelPath) = Nb01Base(cache);

        // This test process holds the unit's lock, as a worker training it would.
        var held = UnitLock.Acquire(cache, unit.Key);
        using var process = CliTests.Start(UnitArgs(cache, unit.Id));
        var stderr = Collect(process);
        var clock = Stopwatch.StartNew();
        while (!Text(stderr).Contains($"waiting for process {Environment.ProcessId} on {Environment.MachineName}", StringComparison.Ordinal) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
        {
            Thread.Sleep(50);
        }
        Assert.False(process.HasExited, Text(stderr));
        Thread.Sleep(500);
        Assert.False(File.Exists(modelPath), "trained while another process held the lock");
        held.Dispose();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(5)));
        Assert.True(process.ExitCode == 0, Text(stderr));
        Assert.True(File.Exists(modelPath));
        Assert.False(File.Exists(UnitLock.PathOf(cache, unit.Key)));
    }

    [Fact]
    public void A_lock_left_by_a_killed_worker_is_broken_and_the_unit_runs_again()
    {
        string cache = TestModels.TempDirectory();
        var (unit, modelPath) = Nb01Base(cache);
        string lockFile = UnitLock.PathOf(cache, unit.Key);

        using (var process = CliTests.Start(UnitArgs(cache, unit.Id)))
        {
            Collect(process);
            var clock = Stopwatch.StartNew();
            while (!File.Exists(lockFile) && !process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
            {
                Thread.Sleep(10);
            }
            bool killed = !process.HasExited;
            process.Kill(); // SIGKILL: no cleanup runs
            process.WaitForExit();
            Assert.True(killed, "the unit ended before it could be killed");
        }
        Assert.True(File.Exists(lockFile), "the killed worker's lock is left behind");
        Assert.False(File.Exists(modelPath));

        var (code, stdout, stderr) = CliTests.Run(UnitArgs(cache, unit.Id));
        Assert.True(code == 0, stderr);
        Assert.Contains($"unit {unit.Id}: done", stdout);
        Assert.True(File.Exists(modelPath));
        Assert.False(File.Exists(lockFile));
    }

    /// <summary>The smoke profile's notebook-01 base model of seed 1, and where the cache keeps it.</summary>
    private static (Unit Unit, string ModelPath) Nb01Base(string cache)
    {
        var engine = new Engine(Engine.BuiltInRunners, new ResultCache(cache), Profiles.Get("smoke"), 1);
        var plan = engine.Plan(SpecLoader.LoadDirectory(SpecTests.SpecsDirectory()));
        var unit = plan.Get(plan.Get("nb01/seed-1").Needs[0]);
        return (unit, new ResultCache(cache).PathOf("models", unit.Key, ".safetensors"));
    }

    private static string[] UnitArgs(string cache, string unit) =>
        ["reproduce", "--profile", "smoke", "--specs", SpecTests.SpecsDirectory(), "--cache", cache, "--unit", unit];

    /// <summary>Drains the process's output, keeping its standard error as it comes.</summary>
    private static StringBuilder Collect(Process process)
    {
        var stderr = new StringBuilder();
        _ = process.StandardOutput.ReadToEndAsync();
        _ = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync() is { } line)
            {
                lock (stderr)
                {
                    stderr.AppendLine(line);
                }
            }
        });
        return stderr;
    }

    private static string Text(StringBuilder text)
    {
        lock (text)
        {
            return text.ToString();
        }
    }
}
