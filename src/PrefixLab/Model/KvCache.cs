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

    /// <summary>Creates an empty cache for a model with <paramref name="layers"/> blocks.</summary>
    public KvCache(int layers)
    {
        keys = new Tensor?[layers];
        values = new Tensor?[layers];
    }

    /// <summary>Number of positions already processed; the next input starts at this position.</summary>
    public int Length { get; internal set; }

    /// <summary>Appends new keys and values of one block and returns the whole cached sequence.</summary>
    internal (Tensor Keys, Tensor Values) Append(int layer, Tensor newKeys, Tensor newValues)
    {
        var k = keys[layer] is { } oldK ? cat([oldK, newKeys], 2) : newKeys;
        var v = values[layer] is { } oldV ? cat([oldV, newValues], 2) : newValues;
        // The cache outlives the caller's dispose scope.
        keys[layer]?.Dispose();
        values[layer]?.Dispose();
        keys[layer] = k.DetachFromDisposeScope();
        values[layer] = v.DetachFromDisposeScope();
        return (k, v);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i]?.Dispose();
            values[i]?.Dispose();
            keys[i] = values[i] = null;
        }
    }
}
