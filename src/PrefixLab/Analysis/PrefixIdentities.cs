using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>
/// The identities of paper.md C2 and C3 at one head, measured over a batch of sequences (errors are
/// largest absolute differences).
/// </summary>
/// <param name="Layer">Block index.</param>
/// <param name="Head">Head index.</param>
/// <param name="ContentAttentionError">
/// (a) The attention over the content, renormalised over it, with the adapter against without it. Exact
/// at the first layer for a prefix; at deeper layers it also holds the cross-layer effect.
/// </param>
/// <param name="OwnContentError">
/// (a) on the layer's actual inputs: the renormalised content attention against the softmax of the
/// layer's own content scores alone. Exact at every layer for a prefix.
/// </param>
/// <param name="BiasedMixError">
/// (b) The head output against Σ_{k ∈ prefix} A_ik v_k + (1 − α_i) t̂_i, on the layer's actual inputs;
/// null when the method has no prefix.
/// </param>
/// <param name="ContentOutputError">t̂ with the adapter against t̂ without it: exact at the first layer for a prefix.</param>
/// <param name="AlphaMin">Smallest α_i, the attention mass a content query puts on the prefix.</param>
/// <param name="AlphaMax">Largest α_i.</param>
/// <param name="Shift">How far the renormalised content attention moved (with against without the adapter).</param>
public sealed record HeadCheck(
    int Layer,
    int Head,
    double ContentAttentionError,
    double OwnContentError,
    double? BiasedMixError,
    double ContentOutputError,
    double AlphaMin,
    double AlphaMax,
    ShiftStats Shift);

/// <summary>
/// Checks that a prefix leaves the relative attention over the content alone and only adds a bias to
/// each head's output (paper.md C2, C3), for any model and adapter, from two recorded runs on the same
/// sequences: one with the adapter, one without it. For a method without a prefix (LoRA, full
/// fine-tuning) only the attention comparison and the shift mean anything, and they show how far the
/// method moved the attention.
/// </summary>
public static class PrefixIdentities
{
    /// <summary>
    /// Records <paramref name="adapted"/> and <paramref name="plain"/> on <paramref name="tokens"/> and
    /// compares them at every layer and head. With a row prefix the tokens hold padding in the prefix
    /// rows, which is what the plain model reads there; with a key/value prefix the plain model reads the
    /// tokens at the positions the adapted one does (<see cref="PrefixGeometry.PositionShift"/>).
    /// </summary>
    public static IReadOnlyList<HeadCheck> Check(ILanguageModel adapted, ILanguageModel plain, PrefixGeometry geometry, Tensor tokens)
    {
        using var with = AttentionRecorder.Record(adapted, tokens);
        using var without = AttentionRecorder.Record(plain, tokens, geometry.PositionShift);
        return Compare(with, without, geometry);
    }

    /// <summary>Compares two recordings of the same sequences, with and without the adapter whose prefix is <paramref name="geometry"/>.</summary>
    public static IReadOnlyList<HeadCheck> Compare(AttentionRecording with, AttentionRecording without, PrefixGeometry geometry)
    {
        PrefixLabException.Check(with.Layers.Count == without.Layers.Count, "the two runs have different numbers of layers");
        var checks = new List<HeadCheck>();
        for (int layer = 0; layer < with.Layers.Count; layer++)
        {
            using var scope = NewDisposeScope();
            var a = new ContentAttention(with.Layers[layer], geometry.FirstQuery, geometry.AdaptedContentStart);
            var b = new ContentAttention(without.Layers[layer], geometry.FirstQuery, geometry.PlainContentStart);
            var attention = ContentAttention.MaxAbsPerHead(a.Renormalised, b.Renormalised);
            var own = ContentAttention.MaxAbsPerHead(a.Renormalised, a.OwnContent);
            var mix = geometry.Form == PrefixForm.None ? null : ContentAttention.MaxAbsPerHead(a.Output, a.BiasedMix());
            var content = ContentAttention.MaxAbsPerHead(a.ContentOutput, b.ContentOutput);
            var alphaMax = ContentAttention.PerHead(a.Alpha, max: true);
            var alphaMin = ContentAttention.PerHead(a.Alpha.neg(), max: true);
            var shift = AttentionShift.PerHead(a.Renormalised, b.Renormalised);
            for (int head = 0; head < attention.Length; head++)
            {
                checks.Add(new HeadCheck(layer, head, attention[head], own[head], mix?[head], content[head], -alphaMin[head], alphaMax[head], shift[head]));
            }
        }
        return checks;
    }
}
