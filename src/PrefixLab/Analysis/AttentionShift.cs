using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>How far one head's attention rows moved: KL divergence and total variation, mean and max over rows.</summary>
/// <param name="KlMean">Mean over rows of KL(p ‖ q), in nats.</param>
/// <param name="KlMax">Largest KL(p ‖ q) of a row.</param>
/// <param name="TvMean">Mean over rows of the total-variation distance ½ Σ |p − q| (0 to 1).</param>
/// <param name="TvMax">Largest total-variation distance of a row.</param>
public sealed record ShiftStats(double KlMean, double KlMax, double TvMean, double TvMax);

/// <summary>
/// The cross-layer effect (paper.md C3): how much the attention over the content moves when an adapter
/// is attached, compared row by row between two runs on the same sequences.
/// </summary>
public static class AttentionShift
{
    /// <summary>
    /// Per head, the shift from <paramref name="q"/> to <paramref name="p"/>: attention rows
    /// <c>[batch, head, query, key]</c> that each sum to 1 (p the adapted run's, q the plain one's).
    /// </summary>
    public static IReadOnlyList<ShiftStats> PerHead(Tensor p, Tensor q)
    {
        using var scope = NewDisposeScope();
        var pd = p.to_type(ScalarType.Float64);
        var qd = q.to_type(ScalarType.Float64);
        // 0 · log(0 / q) is 0; a q of 0 under a positive p would be an infinite KL, kept finite but huge.
        var terms = where(pd > 0, pd * (pd / qd.clamp_min(1e-300)).log(), zeros_like(pd));
        var kl = terms.sum(-1).clamp_min(0); // rounding can make a zero KL slightly negative
        var tv = (pd - qd).abs().sum(-1).mul(0.5);
        var klMean = ContentAttention.PerHead(kl, max: false);
        var klMax = ContentAttention.PerHead(kl, max: true);
        var tvMean = ContentAttention.PerHead(tv, max: false);
        var tvMax = ContentAttention.PerHead(tv, max: true);
        return [.. Enumerable.Range(0, klMean.Length).Select(h => new ShiftStats(klMean[h], klMax[h], tvMean[h], tvMax[h]))];
    }
}
