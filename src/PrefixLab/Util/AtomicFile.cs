namespace PrefixLab.Util;

/// <summary>Writes files so that a crash or a kill never leaves a partial file where a good one was.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Writes through <paramref name="write"/> into a temporary file beside <paramref name="path"/>, flushes
    /// it to disk, then renames it over <paramref name="path"/>. The directory is created if missing.
    /// An existing <paramref name="path"/> that is not a regular file (a device such as <c>/dev/null</c>,
    /// a pipe, a directory) is refused before anything is written: the rename would replace it.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        PrefixLabException.Check(path.Length > 0, "cannot write a file with an empty name");
        PrefixLabException.Check(!Path.EndsInDirectorySeparator(path), $"'{path}' ends in a '/' and so names a directory, not a file");
        string full = Path.GetFullPath(path);
        FileIdentity.CheckWritableFile(full, $"'{path}'");
        string directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        // Host and pid in the name: writers on several machines sharing a folder never share a temporary file.
        string temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.MachineName}.{Environment.ProcessId}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> atomically (UTF-8).</summary>
    public static void WriteText(string path, string text) =>
        Write(path, stream => stream.Write(System.Text.Encoding.UTF8.GetBytes(text)));
}
