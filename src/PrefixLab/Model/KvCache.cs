using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// Keys and values of the positions processed so far, per block, so that generation feeds only the new
/// token. It holds the keys and values as the attention computed them, before any hook on
/// <c>hook_k</c>/<c>hook_v</c>, so a hook that extends them (a key/value prefix) runs again at each
/// step on the whole cache and the cached path stays identical to the uncached one.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] keys;
    private readonly Tensor?[] values;
    private readonly int[] filled;

    /// <summary>Creates an empty cache for a model with <paramref name="layers"/> blocks.</summary>
    public KvCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
        filled = new int[layers];
    }

    /// <summary>Number of positions already processed; the next input starts at this position.</summary>
    public int Length { get; internal set; }

    /// <summary>
    /// Appends new keys and values of one block and returns the whole cached sequence. The buffers
    /// double when full, so a long generation copies each position a bounded number of times instead
    /// of the whole cache at every token; what is returned is a view of the filled part.
    /// </summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor newKeys, Tensor newValues)
    {
        int count = (int)newKeys.shape[2], used = filled[layer];
        keys[layer] = Reserve(keys[layer], newKeys, used, used + count);
        values[layer] = Reserve(values[layer], newValues, used, used + count);
        keys[layer]!.narrow(2, used, count).copy_(newKeys);
        values[layer]!.narrow(2, used, count).copy_(newValues);
        filled[layer] = used + count;
        return (keys[layer]!.narrow(2, 0, used + count), values[layer]!.narrow(2, 0, used + count));
    }

    /// <summary>A buffer shaped like <paramref name="like"/> with room for <paramref name="needed"/> positions, keeping the first <paramref name="used"/>.</summary>
    private static Tensor Reserve(Tensor? buffer, Tensor like, int used, int needed)
    {
        if (buffer is not null && buffer.shape[2] >= needed)
        {
            return buffer;
        }
        long capacity = Math.Max(needed, 2 * (buffer?.shape[2] ?? 0));
        var grown = empty([like.shape[0], like.shape[1], capacity, like.shape[3]], like.dtype, like.device);
        if (buffer is not null)
        {
            grown.narrow(2, 0, used).copy_(buffer.narrow(2, 0, used));
            buffer.Dispose();
        }
        // The cache outlives the caller's dispose scope.
        return grown.DetachFromDisposeScope();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = values[i] = null;
            filled[i] = 0;
        }
    }
}
