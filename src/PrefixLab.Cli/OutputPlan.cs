using PrefixLab.Util;

namespace PrefixLab.Cli;

/// <summary>
/// The files and folders a command will write and the inputs it reads, checked together before any
/// long work starts, so that a run never ends in a failed save and never destroys what the user owns:
/// every output is named, is not an existing device, pipe or socket (nor a directory where a file goes,
/// or a file where a directory goes), no folder above it is a file, no output is one of the inputs under
/// any name (the same path, a symbolic link or a hard link; a file directly inside an input folder
/// counts as input), and no two outputs are the same file.
/// </summary>
internal sealed class OutputPlan
{
    private readonly List<(string What, string Path, bool Directory)> outputs = [];
    private readonly List<(string What, string Path)> inputs = [];

    /// <summary>A file to be written; <paramref name="what"/> names it for the user, e.g. <c>--out</c>.</summary>
    public OutputPlan File(string what, string path)
    {
        outputs.Add((what, path, false));
        return this;
    }

    /// <summary>A folder to be written into, and the files the command writes there.</summary>
    public OutputPlan Directory(string what, string path, params string[] files)
    {
        outputs.Add((what, path, true));
        foreach (string file in files)
        {
            outputs.Add(($"{what}'s {file}", Path.Combine(path, file), false));
        }
        return this;
    }

    /// <summary>An input (file or folder) that no output may be; null is skipped.</summary>
    public OutputPlan Input(string what, string? path)
    {
        if (path is not null)
        {
            inputs.Add((what, path));
        }
        return this;
    }

    /// <summary>Throws a one-line <see cref="PrefixLabException"/> for the first output that breaks a rule.</summary>
    public void Check()
    {
        foreach (var (what, path, isDirectory) in outputs)
        {
            PrefixLabException.Check(path.Length > 0, $"{what} is empty: name a {(isDirectory ? "folder" : "file")}");
            var kind = FileIdentity.KindOf(path);
            if (isDirectory)
            {
                PrefixLabException.Check(kind is PathKind.Missing or PathKind.Directory, $"{what} '{path}' is {FileIdentity.Describe(kind)}, not a folder");
            }
            else
            {
                PrefixLabException.Check(!Path.EndsInDirectorySeparator(path), $"{what} '{path}' ends in '{path[^1]}', so it names a folder: name a file");
                PrefixLabException.Check(kind is PathKind.Missing or PathKind.Regular,
                    $"{what} '{path}' is {FileIdentity.Describe(kind)}, not a regular file: PrefixLab writes only regular files and leaves this alone");
            }
            CheckParents(what, path);
            foreach (var (inputWhat, input) in inputs)
            {
                PrefixLabException.Check(!IsInput(path, input),
                    $"{what} '{path}' is the same file as {inputWhat} '{input}': writing it would destroy the input; name another output");
            }
        }
        for (int i = 0; i < outputs.Count; i++)
        {
            for (int j = i + 1; j < outputs.Count; j++)
            {
                var (a, b) = (outputs[i], outputs[j]);
                bool clash = SamePath(a.Path, b.Path) || FileIdentity.SameFile(a.Path, b.Path);
                PrefixLabException.Check(!clash, $"{b.What} '{b.Path}' is the same file as {a.What} '{a.Path}': give them different names");
            }
        }
    }

    /// <summary>The nearest existing folder above <paramref name="path"/> must be a folder, else the write fails after the work.</summary>
    private static void CheckParents(string what, string path)
    {
        for (string? dir = Path.GetDirectoryName(Path.GetFullPath(Path.TrimEndingDirectorySeparator(path))); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            var kind = FileIdentity.KindOf(dir);
            if (kind == PathKind.Missing)
            {
                continue; // created when the output is written
            }
            PrefixLabException.Check(kind == PathKind.Directory, $"{what} '{path}' lies under '{dir}', which is {FileIdentity.Describe(kind)}, not a folder");
            return;
        }
    }

    private static bool IsInput(string output, string input)
    {
        if (SamePath(output, input) || FileIdentity.SameFile(output, input))
        {
            return true;
        }
        if (FileIdentity.KindOf(input) != PathKind.Directory || FileIdentity.KindOf(output) == PathKind.Missing)
        {
            return false;
        }
        // A model or adapter folder: none of its files may be overwritten either.
        return System.IO.Directory.EnumerateFiles(input).Any(file => FileIdentity.SameFile(output, file));
    }

    private static bool SamePath(string a, string b) =>
        a.Length > 0 && b.Length > 0 && Path.GetFullPath(Path.TrimEndingDirectorySeparator(a)) == Path.GetFullPath(Path.TrimEndingDirectorySeparator(b));
}
