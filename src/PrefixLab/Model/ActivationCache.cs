using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// Activations of one forward pass by hook point name, detached copies that the forward pass cannot
/// change afterwards; disposing frees them. <see cref="HookedRuns.RunWithCache"/> makes one.
/// </summary>
public sealed class ActivationCache : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly Dictionary<string, Tensor> activations = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public Tensor this[string key] => activations.TryGetValue(key, out var tensor)
        ? tensor
        : throw new PrefixLabException($"no activation of '{key}' in the cache (cached: {string.Join(", ", activations.Keys.Take(4))}{(activations.Count > 4 ? ", …" : "")})");

    /// <inheritdoc />
    public IEnumerable<string> Keys => activations.Keys;

    /// <inheritdoc />
    public IEnumerable<Tensor> Values => activations.Values;

    /// <inheritdoc />
    public int Count => activations.Count;

    /// <inheritdoc />
    public bool ContainsKey(string key) => activations.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value) => activations.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => activations.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Keeps a copy of <paramref name="activation"/> under <paramref name="name"/>.</summary>
    internal void Store(string name, Tensor activation)
    {
        // A clone: the forward pass may go on to change the tensor in place. Outside every dispose
        // scope: the cache outlives the run's.
        var copy = activation.detach().clone().DetachFromDisposeScope();
        if (activations.Remove(name, out var earlier))
        {
            earlier.Dispose();
        }
        activations[name] = copy;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in activations.Values)
        {
            tensor.Dispose();
        }
        activations.Clear();
    }
}

/// <summary>Runs with hooks, as TransformerLens' <c>run_with_cache</c> does.</summary>
public static class HookedRuns
{
    /// <summary>
    /// Runs <paramref name="model"/> once on <paramref name="tokens"/> without gradients, in the mode it
    /// is in, and keeps the activation of every hook point whose name <paramref name="names"/> accepts
    /// (all without it). The cache's hooks run after those already attached (an adapter's), so it sees
    /// what the model computes with them, and are gone when this returns.
    /// </summary>
    public static ActivationCache RunWithCache(this ILanguageModel model, Tensor tokens, Func<string, bool>? names = null)
    {
        var cache = new ActivationCache();
        HookFunction store = (activation, context) =>
        {
            cache.Store(context.Name, activation);
            return activation;
        };
        try
        {
            using (model.Hooks.Scope(model.Hooks.Names.Where(n => names?.Invoke(n) ?? true).Select(n => (n, store))))
            using (no_grad())
            using (NewDisposeScope())
            {
                model.Forward(tokens);
            }
        }
        catch
        {
            cache.Dispose();
            throw;
        }
        return cache;
    }
}
