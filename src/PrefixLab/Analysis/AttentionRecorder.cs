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
/// Records attention through the model's named hook points, with whatever adapter is attached: it adds
/// read-only hooks for one forward pass and removes them after, so it sees exactly what the model computes.
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
    public static AttentionRecording Record(Gpt model, Tensor tokens, int positionShift = 0)
    {
        int layers = model.Config.Layers;
        var captured = new Tensor?[layers, Points.Length];
        var handles = new List<IDisposable>();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            for (int layer = 0; layer < layers; layer++)
            {
                for (int point = 0; point < Points.Length; point++)
                {
                    int l = layer, p = point;
                    handles.Add(model.Hooks.Add(Points[p](l), (activation, _) =>
                    {
                        // A clone: the forward pass may go on to change a tensor in place.
                        captured[l, p] = activation.detach().clone().DetachFromDisposeScope();
                        return activation;
                    }));
                }
            }
            using (no_grad())
            using (NewDisposeScope())
            using (model.ShiftPositions(positionShift))
            {
                model.Forward(tokens);
            }
        }
        finally
        {
            handles.ForEach(h => h.Dispose());
            if (wasTraining)
            {
                model.train();
            }
        }
        var records = Enumerable.Range(0, layers)
            .Select(l => new LayerRecord(captured[l, 0]!, captured[l, 1]!, captured[l, 2]!, captured[l, 3]!, captured[l, 4]!, captured[l, 5]!))
            .ToList();
        return new AttentionRecording(tokens, records);
    }
}
