using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// Causal multi-head self-attention as in minGPT: one Linear <c>c_attn</c> makes queries, keys and
/// values, <c>c_proj</c> projects the concatenated heads back, both with bias. Its hook points are
/// <c>blocks.L.attn.hook_q</c>, <c>hook_k</c>, <c>hook_v</c>, <c>hook_attn_scores</c>,
/// <c>hook_pattern</c>, <c>hook_z</c>, and each Linear layer's <c>hook_out</c>.
/// </summary>
internal sealed class Attention : Module
{
#pragma warning disable IDE1006 // field names are the state-dict names of minGPT and GPT-2, and TransformerLens' hook names
    private readonly Linear c_attn;
    private readonly Linear c_proj;
    private readonly HookPoint hook_q;
    private readonly HookPoint hook_k;
    private readonly HookPoint hook_v;
    private readonly HookPoint hook_attn_scores;
    private readonly HookPoint hook_pattern;
    private readonly HookPoint hook_z;
#pragma warning restore IDE1006
    private readonly HookedLinear queryKeyValue;
    private readonly HookedLinear output;
    private readonly MaskDropout attnDropout;
    private readonly MaskDropout residDropout;
    private readonly int layer;
    private readonly int heads;
    private readonly int headDim;
    private readonly double scale;
    private readonly Products products;

    /// <summary>
    /// Creates block <paramref name="layer"/>'s attention for <paramref name="config"/>, its dropout drawing
    /// from <paramref name="dropout"/>, its products in the type <paramref name="products"/> holds.
    /// </summary>
    public Attention(GptConfig config, DropoutStream dropout, Products products, int layer) : base("attn")
    {
        this.layer = layer;
        this.products = products;
        heads = config.Heads;
        headDim = config.HeadDim;
        scale = config.AttnScale ?? 1.0 / Math.Sqrt(headDim);
        c_attn = Linear(config.Width, 3 * config.Width);
        c_proj = Linear(config.Width, config.Width);
        string at = $"blocks.{layer}.attn.";
        queryKeyValue = new HookedLinear(c_attn, at + "c_attn.hook_out", products, layer);
        output = new HookedLinear(c_proj, at + "c_proj.hook_out", products, layer);
        hook_q = new HookPoint(HookPoints.Q(layer), layer);
        hook_k = new HookPoint(HookPoints.K(layer), layer);
        hook_v = new HookPoint(HookPoints.V(layer), layer);
        hook_attn_scores = new HookPoint(HookPoints.Scores(layer), layer);
        hook_pattern = new HookPoint(HookPoints.Pattern(layer), layer);
        hook_z = new HookPoint(HookPoints.Z(layer), layer);
        attnDropout = new MaskDropout(config.Dropout, dropout);
        residDropout = new MaskDropout(config.Dropout, dropout);
        RegisterComponents();
    }

    /// <summary>
    /// Attends from the rows of <paramref name="x"/> (<c>[batch, position, width]</c>, starting at absolute
    /// position <paramref name="position"/>) to themselves and every earlier position, including those
    /// held in <paramref name="cache"/>. Only rows from <paramref name="queryFrom"/> on are computed and
    /// returned: all rows still give keys and values.
    /// </summary>
    internal Tensor Forward(Tensor x, KvCache? cache, int position, int queryFrom = 0)
    {
        long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
        // Split along the width, as minGPT does: its backward is one concatenation, where indexing a
        // permuted [3, ...] view would zero-fill and add a full-size gradient for each of q, k and v.
        var qkv = queryKeyValue.Forward(x, position).split(width, 2);
        Tensor q = Heads(qkv[0]), k = Heads(qkv[1]), v = Heads(qkv[2]);
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v);
        }
        if (queryFrom > 0)
        {
            q = q[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(queryFrom)];
            length -= queryFrom;
            position += queryFrom;
        }
        q = hook_q.Run(q, position);
        // Keys and values cover every position from the first (the cache holds the earlier ones).
        k = hook_k.Run(k, 0);
        v = hook_v.Run(v, 0);

        // Keys may start before the queries (cached positions, or a key/value prefix a hook added): query
        // row i sits at key column i + (keys - queries), and sees every key up to that column.
        long keyCount = k.shape[2];
        var scores = products.MatMul(q, k.transpose(-2, -1)).mul_(scale);
        // A single query row (a decoding step) is the last position and sees every key: nothing to mask.
        if (length > 1)
        {
            using var future = ones(length, keyCount, ScalarType.Bool).triu_(keyCount - length + 1);
            scores = scores.masked_fill_(future, float.NegativeInfinity);
        }
        scores = hook_attn_scores.Run(scores, position);
        var pattern = hook_pattern.Run(functional.softmax(scores, -1), position);
        var z = hook_z.Run(products.MatMul(attnDropout.forward(pattern), v), position);
        var merged = z.transpose(1, 2).reshape(batch, length, width);
        return residDropout.forward(output.Forward(merged, position));
    }

    /// <summary>Rows <c>[batch, position, width]</c> as heads <c>[batch, head, position, head width]</c>.</summary>
    private Tensor Heads(Tensor rows) => rows.view(rows.shape[0], rows.shape[1], heads, headDim).transpose(1, 2);
}
