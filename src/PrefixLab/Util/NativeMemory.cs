using System.Runtime.InteropServices;

namespace PrefixLab.Util;

/// <summary>
/// Tunes glibc's allocator for libtorch's pattern of many large short-lived buffers. By default glibc
/// maps buffers above a (growing) threshold fresh from the kernel and trims freed memory back to it, so
/// each training step pays page faults and page clearing for its activations again; measured here, a
/// notebook-03 step takes about 6% less time when freed memory stays in the heap for reuse.
/// </summary>
internal static class NativeMemory
{
    private const int TrimThreshold = -1;
    private const int MmapThreshold = -3;
    private static int applied;

    /// <summary>Applies the settings once per process; a no-op off glibc.</summary>
    public static void Configure()
    {
        if (Interlocked.Exchange(ref applied, 1) == 1 || !OperatingSystem.IsLinux())
        {
            return;
        }
        try
        {
            // 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems.
            _ = Mallopt(MmapThreshold, 32 << 20);
            _ = Mallopt(TrimThreshold, 1 << 30);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl, say): keep its defaults.
        }
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for a single int call
    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);
#pragma warning restore SYSLIB1054
}
