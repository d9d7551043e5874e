using System.Diagnostics;
using System.Globalization;

namespace PrefixLab.Experiments;

/// <summary>
/// A lock on one unit of work in a shared cache folder, so that two workers (processes on one machine,
/// Slurm tasks on several) never train the same thing at once. The lock is a file created only if none
/// exists (an exclusive create is atomic on local and NFS v3+ file systems), naming its owner: host, pid
/// and the process's start time. A lock is stale, and is broken, when its owner is on this host and that
/// process is gone (or the pid now belongs to another process), or when its owner is on another host
/// and has not renewed the file's time for <see cref="StaleAfter"/>: a live owner renews it every
/// <see cref="Heartbeat"/>.
/// </summary>
public sealed class UnitLock : IDisposable
{
    /// <summary>How often a holder renews its lock file's time.</summary>
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(30);

    /// <summary>How long a lock of another host may go unrenewed before it counts as stale.</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(5);

    private readonly string path;
    private readonly string owner;
    private readonly Timer heartbeat;

    private UnitLock(string path, string owner)
    {
        this.path = path;
        this.owner = owner;
        heartbeat = new Timer(_ => Renew(), null, Heartbeat, Heartbeat);
    }

    /// <summary>The lock file of <paramref name="key"/> in the cache folder <paramref name="root"/>.</summary>
    public static string PathOf(string root, string key) => Path.Combine(root, "locks", key + ".lock");

    /// <summary>
    /// Takes the lock on <paramref name="key"/>, waiting while a live owner holds it; breaks a stale one.
    /// <paramref name="waiting"/> hears once whom it waits for.
    /// </summary>
    public static UnitLock Acquire(string root, string key, Action<string>? waiting = null, CancellationToken cancel = default)
    {
        bool told = false;
        while (true)
        {
            if (TryAcquire(root, key, out string holder) is { } taken)
            {
                return taken;
            }
            if (!told)
            {
                waiting?.Invoke(holder);
                told = true;
            }
            cancel.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(250));
            cancel.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Takes the lock on <paramref name="key"/> if it is free or stale; else null, with the live <paramref name="holder"/>.</summary>
    public static UnitLock? TryAcquire(string root, string key, out string holder)
    {
        string path = PathOf(root, key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string me = Me();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read))
                {
                    stream.Write(System.Text.Encoding.UTF8.GetBytes(me));
                    stream.Flush(flushToDisk: true);
                }
                holder = "";
                return new UnitLock(path, me);
            }
            catch (IOException) when (File.Exists(path))
            {
                string content = ReadOwner(path);
                if (!IsStale(path, content))
                {
                    holder = Describe(content);
                    return null;
                }
                Break(path, content);
            }
        }
        holder = Describe(ReadOwner(path));
        return null;
    }

    /// <summary>Releases the lock (if it is still this process's).</summary>
    public void Dispose()
    {
        heartbeat.Dispose();
        if (ReadOwner(path) == owner)
        {
            File.Delete(path);
        }
    }

    /// <summary>Whether the lock whose file holds <paramref name="content"/> is stale.</summary>
    internal static bool IsStale(string path, string content)
    {
        var age = DateTime.UtcNow - File.GetLastWriteTimeUtc(path);
        string[] parts = content.Split(' ');
        if (parts.Length != 3 || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int pid) || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out long started))
        {
            // Being written this instant, or left empty by an owner killed between create and write.
            return age > TimeSpan.FromSeconds(10);
        }
        if (parts[0] != Environment.MachineName)
        {
            return age > StaleAfter;
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            // A pid reused by another process is not the owner.
            return process.HasExited || StartOf(process) != started;
        }
        catch (ArgumentException)
        {
            return true; // no such process
        }
        catch (InvalidOperationException)
        {
            return true; // exited while looking
        }
    }

    /// <summary>Removes a stale lock, unless another worker broke it and took the lock in between.</summary>
    private static void Break(string path, string stale)
    {
        // A second file guards the break, so that a worker that judged the old owner stale cannot delete
        // the lock a faster worker has just taken. A breaker killed within these few lines leaves the
        // guard behind; a guard older than a minute is removed.
        string guard = path + ".break";
        try
        {
            using (new FileStream(guard, FileMode.CreateNew, FileAccess.Write))
            {
            }
        }
        catch (IOException) when (File.Exists(guard))
        {
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(guard) > TimeSpan.FromMinutes(1))
            {
                File.Delete(guard);
            }
            Thread.Sleep(50);
            return;
        }
        try
        {
            if (ReadOwner(path) == stale)
            {
                File.Delete(path);
            }
        }
        finally
        {
            File.Delete(guard);
        }
    }

    private void Renew()
    {
        try
        {
            if (ReadOwner(path) == owner)
            {
                File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
            }
        }
        catch (IOException)
        {
            // A missed renewal is made up by the next one; the stale limit spans several.
        }
    }

    private static string Me()
    {
        using var self = Process.GetCurrentProcess();
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName} {Environment.ProcessId} {StartOf(self)}");
    }

    private static long StartOf(Process process) => process.StartTime.ToUniversalTime().Ticks / TimeSpan.TicksPerSecond;

    private static string ReadOwner(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string Describe(string content) =>
        content.Split(' ') is [string host, string pid, _] ? $"process {pid} on {host}" : "another worker";
}
