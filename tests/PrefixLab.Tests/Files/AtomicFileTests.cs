using System.Diagnostics;
using PrefixLab.Util;

namespace PrefixLab.Tests.Files;

/// <summary>The library's last line of defence: an atomic write never renames a file over a pipe or a folder.</summary>
public class AtomicFileTests
{
    [SkippableFact]
    public void Writing_over_a_pipe_or_a_folder_is_refused_and_leaves_it_alone()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "named pipes are made with mkfifo");
        string dir = TestModels.TempDirectory();
        string fifo = Path.Combine(dir, "pipe");
        using (var mkfifo = Process.Start("mkfifo", fifo))
        {
            mkfifo.WaitForExit();
        }
        string folder = Path.Combine(dir, "folder");
        Directory.CreateDirectory(folder);

        Assert.Equal(PathKind.Fifo, FileIdentity.KindOf(fifo));
        var e = Assert.Throws<PrefixLabException>(() => AtomicFile.WriteText(fifo, "x"));
        Assert.Contains("is a named pipe (FIFO), not a regular file", e.Message);
        e = Assert.Throws<PrefixLabException>(() => AtomicFile.WriteText(folder, "x"));
        Assert.Contains("is a directory, not a regular file", e.Message);
        Assert.Equal(PathKind.Fifo, FileIdentity.KindOf(fifo));
        Assert.Empty(Directory.GetFileSystemEntries(folder));
        Assert.Equal(2, Directory.GetFileSystemEntries(dir).Length); // no temporary file left behind

        string file = Path.Combine(dir, "file.txt");
        AtomicFile.WriteText(file, "kept");
        Assert.Equal("kept", File.ReadAllText(file));
    }

    [SkippableFact]
    public void A_hard_link_and_a_symbolic_link_are_the_same_file_and_a_copy_is_not()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "links as Linux makes them");
        string dir = TestModels.TempDirectory();
        string file = Path.Combine(dir, "a");
        File.WriteAllText(file, "a");
        string hard = Path.Combine(dir, "hard");
        using (var ln = Process.Start("ln", [file, hard]))
        {
            ln.WaitForExit();
        }
        string soft = Path.Combine(dir, "soft");
        File.CreateSymbolicLink(soft, file);
        string copy = Path.Combine(dir, "copy");
        File.Copy(file, copy);

        Assert.True(FileIdentity.SameFile(file, hard));
        Assert.True(FileIdentity.SameFile(soft, file));
        Assert.False(FileIdentity.SameFile(file, copy));
        Assert.False(FileIdentity.SameFile(file, Path.Combine(dir, "missing")));
    }
}
