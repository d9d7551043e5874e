using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>
/// What one block's attention saw and made, as read at the model's hook points (after any adapter's
/// hooks, so a prefix's replaced rows and extra keys and values are included).
/// </summary>
/// <param name="Input">The attention input before its LayerNorm (<c>hook_resid_pre</c>), <c>[batch, position, width]</c>.</param>
/// <param name="Queries"><c>[batch, head, position, head_dim]</c>.</param>
/// <param name="Keys"><c>[batch, head, key, head_dim]</c>; a key/value prefix adds keys in front.</param>
/// <param name="Values"><c>[batch, head, key, head_dim]</c>.</param>
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
/// </summary>
public static class AttentionRecorder
{
    private static readonly Func<int, string>[] Points =
        [HookPoints.ResidPre, HookPoints.Q, HookPoints.K, HookPoints.V, HookPoints.Pattern, HookPoints.Z];

    /// <summary>
    /// Runs <paramref name="model"/> on <paramref name="tokens"/> (<c>[batch, position]</c>) in evaluation
    /// mode, without gradients, and records every block. With <paramref name="positionShift"/> the
    /// tokens sit that much further along the position embedding (a plain run lined up with a run under
    /// a key/value prefix, <see cref="PrefixGeometry.PositionShift"/>).
    /// </summary>
    public static AttentionRecording Record(ILanguageModel model, Tensor tokens, int positionShift = 0)
    {
        int layers = model.Shape.Layers;
        var names = Enumerable.Range(0, layers).SelectMany(l => Points.Select(point => point(l))).ToHashSet(StringComparer.Ordinal);
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
                .Select(l => Points.Select(point => cache[point(l)]).ToArray())
                .Select(t => new LayerRecord(t[0], t[1], t[2], t[3], t[4], t[5]))
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
}
