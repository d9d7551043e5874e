using System.Runtime.InteropServices;

namespace PrefixLab.Util;

/// <summary>What a path names once symbolic links are followed.</summary>
public enum PathKind
{
    /// <summary>Nothing (or a dangling link): writing creates a regular file.</summary>
    Missing,

    /// <summary>A regular file.</summary>
    Regular,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A character device such as <c>/dev/null</c>.</summary>
    CharacterDevice,

    /// <summary>A block device (a disk).</summary>
    BlockDevice,

    /// <summary>A named pipe (FIFO).</summary>
    Fifo,

    /// <summary>A Unix socket.</summary>
    Socket,
}

/// <summary>
/// The kind of file a path names and which file it is (device and inode), so that a write can refuse a
/// device, a pipe or a directory, and an output can be told apart from an input that is the same file
/// under another name (a symbolic or hard link). On Linux this asks the kernel (<c>statx</c>, whose
/// record has one layout on every architecture); elsewhere it falls back to what .NET can tell.
/// </summary>
public static class FileIdentity
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const uint StatxIno = 0x100;
    private const int StatxSize = 256;

    /// <summary>What <paramref name="path"/> names, following symbolic links.</summary>
    public static PathKind KindOf(string path) => Stat(path) is { } s ? s.Kind : FallbackKind(path);

    /// <summary>
    /// True when <paramref name="a"/> and <paramref name="b"/> both exist and are one file: the same
    /// device and inode (so a hard link or a symbolic link to the other counts), or, where inodes cannot
    /// be read, the same path once links are resolved.
    /// </summary>
    public static bool SameFile(string a, string b)
    {
        if (Stat(a) is { } sa && Stat(b) is { } sb)
        {
            return sa.Kind != PathKind.Missing && sa.Device == sb.Device && sa.Inode == sb.Inode;
        }
        if (!File.Exists(a) && !Directory.Exists(a))
        {
            return false;
        }
        return string.Equals(Resolved(a), Resolved(b), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }

    /// <summary>Words for a kind, to go after "is" in a message: "a character device".</summary>
    public static string Describe(PathKind kind) => kind switch
    {
        PathKind.Missing => "missing",
        PathKind.Regular => "a regular file",
        PathKind.Directory => "a directory",
        PathKind.CharacterDevice => "a character device",
        PathKind.BlockDevice => "a block device",
        PathKind.Fifo => "a named pipe (FIFO)",
        _ => "a socket",
    };

    /// <summary>
    /// Throws <see cref="PrefixLabException"/> when <paramref name="path"/> exists and is not a regular
    /// file: writing there would replace a device node or a pipe, or fail half-way on a directory.
    /// <paramref name="what"/> names the path for the user (e.g. <c>--out '/dev/null'</c>).
    /// </summary>
    public static void CheckWritableFile(string path, string what)
    {
        var kind = KindOf(path);
        PrefixLabException.Check(kind is PathKind.Missing or PathKind.Regular,
            $"{what} is {Describe(kind)}, not a regular file: PrefixLab writes only regular files and leaves this alone");
    }

    private static PathKind FallbackKind(string path) =>
        Directory.Exists(path) ? PathKind.Directory : File.Exists(path) ? PathKind.Regular : PathKind.Missing;

    private static string Resolved(string path)
    {
        string full = Path.GetFullPath(path);
        try
        {
            return File.ResolveLinkTarget(full, returnFinalTarget: true)?.FullName ?? full;
        }
        catch (IOException)
        {
            return full;
        }
    }

    /// <summary>The kernel's answer on Linux (Missing when the path cannot be looked up); null elsewhere.</summary>
    private static (PathKind Kind, ulong Device, ulong Inode)? Stat(string path)
    {
        if (!OperatingSystem.IsLinux() || path.Length == 0)
        {
            return null;
        }
        var buffer = new byte[StatxSize];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType | StatxIno, buffer) != 0)
            {
                return (PathKind.Missing, 0, 0);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null; // an old or non-glibc C library: fall back
        }
        // struct statx (native byte order): stx_mode (u16) at 28, stx_ino (u64) at 32, stx_dev_major/minor (u32) at 136/140.
        int mode = MemoryMarshal.Read<ushort>(buffer.AsSpan(28)) & 0xF000;
        ulong inode = MemoryMarshal.Read<ulong>(buffer.AsSpan(32));
        ulong device = ((ulong)MemoryMarshal.Read<uint>(buffer.AsSpan(136)) << 32) | MemoryMarshal.Read<uint>(buffer.AsSpan(140));
        var kind = mode switch
        {
            0x8000 => PathKind.Regular,
            0x4000 => PathKind.Directory,
            0x2000 => PathKind.CharacterDevice,
            0x6000 => PathKind.BlockDevice,
            0x1000 => PathKind.Fifo,
            _ => PathKind.Socket,
        };
        return (kind, device, inode);
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for one call into the C library
    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int directoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);
#pragma warning restore SYSLIB1054
}
