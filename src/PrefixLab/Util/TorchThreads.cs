using static TorchSharp.torch;

namespace PrefixLab.Util;

/// <summary>Torch's intra-op thread count, changed for a while.</summary>
public static class TorchThreads
{
    /// <summary>
    /// Runs torch on <paramref name="threads"/> threads until the result is disposed, then restores the
    /// count, so that one phase (e.g. the hand-built constructions, whose many tiny products lose more to
    /// OpenMP's hand-offs than they gain) does not slow what runs after it.
    /// </summary>
    public static IDisposable Limit(int threads)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        return new Restore(before);
    }

    private sealed class Restore(int threads) : IDisposable
    {
        public void Dispose() => set_num_threads(threads);
    }
}
