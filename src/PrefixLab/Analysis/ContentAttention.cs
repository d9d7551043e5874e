using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Analysis;

/// <summary>
/// One layer of one run split into prefix and content (paper.md C2, C3), in float64: the recorded
/// tensors are widened exactly, so the checks add no rounding of their own to the model's. Its tensors
/// belong to the caller's dispose scope.
/// </summary>
internal sealed class ContentAttention
{
    /// <summary>Splits <paramref name="record"/>; content queries are rows <paramref name="firstQuery"/> on, content keys columns <paramref name="contentStart"/> on.</summary>
    public ContentAttention(LayerRecord record, int firstQuery, int contentStart)
    {
        var rows = TensorIndex.Slice(firstQuery);
        var content = TensorIndex.Slice(contentStart);
        var prefix = TensorIndex.Slice(0, contentStart);
        var all = TensorIndex.Colon;
        var pattern = record.Pattern.to_type(ScalarType.Float64)[all, all, rows];
        var q = record.Queries.to_type(ScalarType.Float64)[all, all, rows];
        var k = record.Keys.to_type(ScalarType.Float64);
        var v = record.Values.to_type(ScalarType.Float64);
        Output = record.Output.to_type(ScalarType.Float64)[all, all, rows];
        PrefixAttention = pattern[all, all, all, prefix];
        PrefixValues = v[all, all, prefix];
        Alpha = PrefixAttention.sum(-1);
        var contentPattern = pattern[all, all, all, content];
        Renormalised = contentPattern / contentPattern.sum(-1, keepdim: true);

        // What the layer's own content queries and keys give when the prefix is left out: softmax over the
        // content keys alone (query r sees content keys up to r), and the head output t̂ it makes.
        var kc = k[all, all, content];
        long queries = q.shape[2];
        var scores = matmul(q, kc.transpose(-2, -1)).mul_(1.0 / Math.Sqrt(q.shape[3]));
        using (var future = ones(queries, queries, ScalarType.Bool).triu_(1))
        {
            scores.masked_fill_(future, double.NegativeInfinity);
        }
        OwnContent = nn.functional.softmax(scores, -1);
        ContentOutput = matmul(OwnContent, v[all, all, content]);
    }

    /// <summary>Head outputs at the content queries, <c>[batch, head, query, head_dim]</c>.</summary>
    public Tensor Output { get; }

    /// <summary>Attention of the content queries on the prefix, <c>[batch, head, query, P]</c>.</summary>
    public Tensor PrefixAttention { get; }

    /// <summary>Values at the prefix positions, <c>[batch, head, P, head_dim]</c>: the bias directions.</summary>
    public Tensor PrefixValues { get; }

    /// <summary>α: each content query's attention mass on the prefix, <c>[batch, head, query]</c>.</summary>
    public Tensor Alpha { get; }

    /// <summary>The recorded attention over content keys, renormalised over them, <c>[batch, head, query, content]</c>.</summary>
    public Tensor Renormalised { get; }

    /// <summary>The softmax of the layer's own content scores alone, <c>[batch, head, query, content]</c>.</summary>
    public Tensor OwnContent { get; }

    /// <summary>t̂: the head output from attention over the content alone, <c>[batch, head, query, head_dim]</c>.</summary>
    public Tensor ContentOutput { get; }

    /// <summary>Σ_{k ∈ prefix} A_ik v_k + (1 − α_i) t̂_i: what C3 says the head output is.</summary>
    public Tensor BiasedMix() => matmul(PrefixAttention, PrefixValues).add_(ContentOutput * (1 - Alpha).unsqueeze(-1));

    /// <summary>Largest |a − b| per head (<c>[head]</c>, over batch, queries and the last dimension), as doubles.</summary>
    public static double[] MaxAbsPerHead(Tensor a, Tensor b)
    {
        return PerHead((a - b).abs_(), max: true);
    }

    /// <summary>Max or mean per head of a <c>[batch, head, ...]</c> tensor.</summary>
    public static double[] PerHead(Tensor values, bool max)
    {
        var perHead = values.transpose(0, 1).reshape(values.shape[1], -1);
        var reduced = perHead.shape[1] == 0 ? zeros(values.shape[1], dtype: ScalarType.Float64) : max ? perHead.amax(1) : perHead.mean([1]);
        return reduced.to_type(ScalarType.Float64).data<double>().ToArray();
    }
}
