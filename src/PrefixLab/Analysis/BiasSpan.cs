using PrefixLab.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>What a prefix adds to one head's output (paper.md C3, C6).</summary>
/// <param name="Layer">Block index.</param>
/// <param name="Head">Head index.</param>
/// <param name="Vectors">
/// The P bias directions v(s_k): the head's values at the prefix positions, <c>[P][head_dim]</c>. They do
/// not depend on the input (a prefix position attends only to prefix positions).
/// </param>
/// <param name="SingularValues">Singular values of the P × head_dim matrix of the vectors, largest first.</param>
/// <param name="EffectiveDimension">exp of the entropy of the normalised singular values (Roy and Vetterli's effective rank): 1 for one direction, P for P equal ones.</param>
/// <param name="PrefixMass">Mean α: the attention mass the measured content queries put on the prefix.</param>
/// <param name="Entropy">Mean entropy (nats) of the attention over the P prefix positions, renormalised over them.</param>
/// <param name="EffectivePositions">Mean exp(entropy): how many prefix positions the attention spreads over evenly (1 to P).</param>
public sealed record HeadBias(
    int Layer,
    int Head,
    IReadOnlyList<double[]> Vectors,
    IReadOnlyList<double> SingularValues,
    double EffectiveDimension,
    double PrefixMass,
    double Entropy,
    double EffectivePositions);

/// <summary>
/// The span of the biases a prefix can add, and how evenly attention uses the prefix positions
/// (paper.md C6: longer prefixes under-use their span).
/// </summary>
public static class BiasSpan
{
    /// <summary>
    /// Measures every head of <paramref name="adapted"/>, whose prefix is <paramref name="geometry"/>, over
    /// the content queries of <paramref name="tokens"/>, or only over sequence row
    /// <paramref name="queryRow"/> when it is given (the paper's appendix reads the last input token).
    /// </summary>
    public static IReadOnlyList<HeadBias> Measure(ILanguageModel adapted, PrefixGeometry geometry, Tensor tokens, int? queryRow = null)
    {
        using var recording = AttentionRecorder.Record(adapted, tokens);
        return Measure(recording, geometry, queryRow);
    }

    /// <summary>
    /// The same measurement from a <paramref name="recording"/> of the adapted model, so one recording can
    /// serve this and <see cref="PrefixIdentities.Compare"/>.
    /// </summary>
    public static IReadOnlyList<HeadBias> Measure(AttentionRecording recording, PrefixGeometry geometry, int? queryRow = null)
    {
        PrefixLabException.Check(geometry.Form != PrefixForm.None, "the bias view needs a prefix method (soft-prompt, hard-prompt, prefix, prefix-kv)");
        long length = recording.Tokens.shape[^1];
        PrefixLabException.Check(
            queryRow is null || (queryRow >= geometry.FirstQuery && queryRow < length),
            $"query row {queryRow} is not a content position (rows {geometry.FirstQuery} to {length - 1})");
        var result = new List<HeadBias>();
        for (int layer = 0; layer < recording.Layers.Count; layer++)
        {
            using var scope = NewDisposeScope();
            var c = new ContentAttention(recording.Layers[layer], geometry.FirstQuery, geometry.AdaptedContentStart);
            var (prefixAttention, alpha) = queryRow is int row
                ? (c.PrefixAttention.narrow(2, row - geometry.FirstQuery, 1), c.Alpha.narrow(2, row - geometry.FirstQuery, 1))
                : (c.PrefixAttention, c.Alpha);
            var spread = prefixAttention / alpha.unsqueeze(-1);
            var entropy = where(spread > 0, spread * spread.log(), zeros_like(spread)).sum(-1).neg();
            var entropies = ContentAttention.PerHead(entropy, max: false);
            var positions = ContentAttention.PerHead(entropy.exp(), max: false);
            var mass = ContentAttention.PerHead(alpha, max: false);
            for (int head = 0; head < entropies.Length; head++)
            {
                var vectors = c.PrefixValues[0, head];
                var singular = linalg.svdvals(vectors).data<double>().ToArray();
                var rows = Enumerable.Range(0, (int)vectors.shape[0]).Select(k => vectors[k].data<double>().ToArray()).ToList();
                result.Add(new HeadBias(layer, head, rows, singular, EffectiveRank(singular), mass[head], entropies[head], positions[head]));
            }
        }
        return result;
    }

    /// <summary>exp(−Σ p log p) with p = σ / Σσ; 0 when every singular value is 0.</summary>
    public static double EffectiveRank(IReadOnlyList<double> singularValues)
    {
        double total = singularValues.Sum();
        if (total <= 0)
        {
            return 0;
        }
        double entropy = singularValues.Where(s => s > 0).Select(s => s / total).Sum(p => -p * Math.Log(p));
        return Math.Exp(entropy);
    }
}
