using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>
/// What one block's attention saw and made, as read at the model's hook points (after any adapter's
/// hooks, so a prefix's replaced rows and extra keys and values are included).
/// </summary>
/// <param name="Input">The attention input before its LayerNorm (<c>hook_resid_pre</c>), <c>[batch, position, width]</c>.</param>
/// <param name="Queries"><c>[batch, head, position, head_dim]</c>, as attention multiplies them with the keys.</param>
/// <param name="Keys"><c>[batch, head, key, head_dim]</c>, one per query head; a key/value prefix adds keys in front.</param>
/// <param name="Values"><c>[batch, head, key, head_dim]</c>, one per query head.</param>
/// <param name="Pattern">Attention probabilities <c>[batch, head, position, key]</c>.</param>
/// <param name="Output">Head outputs before the output projection (<c>hook_z</c>), <c>[batch, head, position, head_dim]</c>.</param>
public sealed record LayerRecord(Tensor Input, Tensor Queries, Tensor Keys, Tensor Values, Tensor Pattern, Tensor Output);

/// <summary>The per-layer records of one forward pass over a batch of sequences; disposing frees them.</summary>
public sealed class AttentionRecording(Tensor tokens, IReadOnlyList<LayerRecord> layers) : IDisposable
{
    /// <summary>The token ids that were run, <c>[batch, position]</c>.</summary>
    public Tensor Tokens { get; } = tokens;

    /// <summary>One record per block.</summary>
    public IReadOnlyList<LayerRecord> Layers { get; } = layers;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var layer in Layers)
        {
            foreach (var tensor in new[] { layer.Input, layer.Queries, layer.Keys, layer.Values, layer.Pattern, layer.Output })
            {
                tensor.Dispose();
            }
        }
    }
}

/// <summary>
/// Records attention through the model's named hook points, with whatever adapter is attached: one
/// <see cref="HookedRuns.RunWithCache"/> of the points it reads, so it sees exactly what the model computes.
/// Queries and keys are read where attention multiplies them (<see cref="ModelFamily.Queries"/>,
/// <see cref="ModelFamily.PrefixKeys"/>: after the rotation in a rotary family), and grouped-query keys
/// and values are repeated for each query head that shares them, so every record has one head per query
/// head whatever the family.
/// </summary>
public static class AttentionRecorder
{
    /// <summary>
    /// Runs <paramref name="model"/> on <paramref name="tokens"/> (<c>[batch, position]</c>) in evaluation
    /// mode, without gradients, and records every block. With <paramref name="positionShift"/> the
    /// tokens sit that much further along the positions (a plain run lined up with a run under
    /// a key/value prefix, <see cref="PrefixGeometry.PositionShift"/>).
    /// </summary>
    public static AttentionRecording Record(ILanguageModel model, Tensor tokens, int positionShift = 0)
    {
        var family = model.Family;
        Func<int, string>[] points =
        [
            HookPoints.ResidPre,
            l => ModelFamily.Hook(l, family.Queries),
            l => ModelFamily.Hook(l, family.PrefixKeys),
            l => ModelFamily.Hook(l, family.PrefixValues),
            HookPoints.Pattern,
            HookPoints.Z,
        ];
        int layers = model.Shape.Layers;
        // Consecutive query heads share a key/value head (as the attention's grouped product has them).
        int group = model.Shape.Heads / model.Shape.KeyValueHeads;
        var names = Enumerable.Range(0, layers).SelectMany(l => points.Select(point => point(l))).ToHashSet(StringComparer.Ordinal);
        bool wasTraining = model.Module.training;
        model.Module.eval();
        try
        {
            // The recording takes over the cache's tensors and disposes them.
            ActivationCache cache;
            using (model.ShiftPositions(positionShift))
            {
                cache = model.RunWithCache(tokens, names.Contains);
            }
            var records = Enumerable.Range(0, layers)
                .Select(l => points.Select(point => cache[point(l)]).ToArray())
                .Select(t => new LayerRecord(t[0], t[1], PerQueryHead(t[2], group), PerQueryHead(t[3], group), t[4], t[5]))
                .ToList();
            return new AttentionRecording(tokens, records);
        }
        finally
        {
            if (wasTraining)
            {
                model.Module.train();
            }
        }
    }

    /// <summary>Key/value heads <c>[batch, kv head, key, d]</c> repeated for the <paramref name="group"/> query heads of each (the recorded tensor itself when there is one).</summary>
    private static Tensor PerQueryHead(Tensor heads, int group)
    {
        if (group == 1)
        {
            return heads;
        }
        using (heads)
        {
            return heads.repeat_interleave(group, 1);
        }
    }
}
