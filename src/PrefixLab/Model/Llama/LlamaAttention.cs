using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// Causal grouped-query self-attention with rotary positions, as Hugging Face's <c>LlamaAttention</c>:
/// <c>q_proj</c> makes the query heads, <c>k_proj</c> and <c>v_proj</c> the fewer key/value heads, each
/// shared by Heads / KeyValueHeads consecutive query heads; <c>o_proj</c> projects the heads back.
/// Hook points, in the order they run: <c>hook_k</c> (new keys, before rotation), <c>hook_q</c>
/// (queries, before rotation), <c>hook_rot_q</c>, <c>hook_rot_k</c> and <c>hook_v</c> (the rotated
/// keys and the values of every position, cached ones included: what a key/value prefix extends),
/// <c>hook_attn_scores</c>, <c>hook_pattern</c> and <c>hook_z</c> per query head, and each Linear's
/// <c>hook_out</c>.
/// </summary>
internal sealed class LlamaAttention : Module
{
#pragma warning disable IDE1006 // Hugging Face's state-dict names and TransformerLens' hook names
    private readonly Linear q_proj;
    private readonly Linear k_proj;
    private readonly Linear v_proj;
    private readonly Linear o_proj;
    private readonly HookPoint hook_q;
    private readonly HookPoint hook_k;
    private readonly HookPoint hook_v;
    private readonly HookPoint hook_rot_q;
    private readonly HookPoint hook_rot_k;
    private readonly HookPoint hook_attn_scores;
    private readonly HookPoint hook_pattern;
    private readonly HookPoint hook_z;
#pragma warning restore IDE1006
    private readonly HookedLinear query;
    private readonly HookedLinear key;
    private readonly HookedLinear value;
    private readonly HookedLinear output;
    private readonly MaskDropout dropout;
    private readonly int layer;
    private readonly int heads;
    private readonly int keyValueHeads;
    private readonly int headDim;
    private readonly int? window;

    /// <summary>Creates block <paramref name="layer"/>'s attention, its weights uninitialised in <paramref name="dtype"/>.</summary>
    public LlamaAttention(LlamaConfig config, ScalarType dtype, DropoutStream stream, int layer) : base("self_attn")
    {
        this.layer = layer;
        heads = config.Heads;
        keyValueHeads = config.KeyValueHeads;
        headDim = config.HeadDim;
        window = config.SlidingWindow;
        q_proj = LlamaLinear.Create(config.Width, heads * headDim, config.QkvBias, dtype);
        k_proj = LlamaLinear.Create(config.Width, keyValueHeads * headDim, config.QkvBias, dtype);
        v_proj = LlamaLinear.Create(config.Width, keyValueHeads * headDim, config.QkvBias, dtype);
        o_proj = LlamaLinear.Create(heads * headDim, config.Width, config.OutputBias, dtype);
        string at = $"blocks.{layer}.attn.";
        query = new HookedLinear(q_proj, at + "q_proj.hook_out", LlamaLinear.Products, layer);
        key = new HookedLinear(k_proj, at + "k_proj.hook_out", LlamaLinear.Products, layer);
        value = new HookedLinear(v_proj, at + "v_proj.hook_out", LlamaLinear.Products, layer);
        output = new HookedLinear(o_proj, at + "o_proj.hook_out", LlamaLinear.Products, layer);
        hook_q = new HookPoint(HookPoints.Q(layer), layer);
        hook_k = new HookPoint(HookPoints.K(layer), layer);
        hook_v = new HookPoint(HookPoints.V(layer), layer);
        hook_rot_q = new HookPoint(HookPoints.RotQ(layer), layer);
        hook_rot_k = new HookPoint(HookPoints.RotK(layer), layer);
        hook_attn_scores = new HookPoint(HookPoints.Scores(layer), layer);
        hook_pattern = new HookPoint(HookPoints.Pattern(layer), layer);
        hook_z = new HookPoint(HookPoints.Z(layer), layer);
        dropout = new MaskDropout(config.AttentionDropout, stream);
        RegisterComponents();
    }

    /// <summary>
    /// Attends from the rows of <paramref name="x"/> (<c>[batch, position, width]</c>, starting at
    /// sequence row <paramref name="position"/>, rotated by <paramref name="rotation"/>'s rows) to
    /// themselves and every earlier position, those in <paramref name="cache"/> included. Only rows from
    /// <paramref name="queryFrom"/> on are computed and returned; all rows give keys and values.
    /// </summary>
    internal Tensor Forward(Tensor x, KvCache? cache, int position, Rotation rotation, int queryFrom = 0)
    {
        long batch = x.shape[0], length = x.shape[1];
        var k = Heads(key.Forward(x, position), keyValueHeads);
        k = Rotary.Rotate(hook_k.Run(k, position), rotation.Cos, rotation.Sin);
        var v = Heads(value.Forward(x, position), keyValueHeads);
        if (cache is not null)
        {
            (k, v) = cache.Append(layer, k, v);
        }
        var queryRows = queryFrom > 0 ? x[.., queryFrom..] : x;
        length -= queryFrom;
        position += queryFrom;
        var q = hook_q.Run(Heads(query.Forward(queryRows, position), heads), position);
        var (cos, sin) = queryFrom > 0 ? (rotation.Cos[queryFrom..], rotation.Sin[queryFrom..]) : (rotation.Cos, rotation.Sin);
        q = hook_rot_q.Run(Rotary.Rotate(q, cos, sin), position);
        // Keys and values cover every position from the first (the cache holds the earlier ones).
        k = hook_rot_k.Run(k, 0);
        v = hook_v.Run(v, 0);
        long keyCount = k.shape[2];
        PrefixLabException.Check(window is not int w || keyCount <= w,
            $"{keyCount} positions exceed the model's sliding window of {window}: PrefixLab computes only sequences within the window");

        // The query heads that share a key/value head are stacked as rows of one matrix product
        // ([batch, kv head, group · query, d]), so the keys and values are never repeated per head.
        long group = heads / keyValueHeads;
        var grouped = q.reshape(batch, keyValueHeads, group * length, headDim);
        var scores = matmul(grouped, k.transpose(-2, -1)).view(batch, heads, length, keyCount).mul_(1.0 / Math.Sqrt(headDim));
        if (length > 1)
        {
            // Query row i sits at key column i + (keys − queries) and sees every key up to it.
            using var future = ones(length, keyCount, ScalarType.Bool).triu_(keyCount - length + 1);
            scores = scores.masked_fill_(future, float.NegativeInfinity);
        }
        scores = hook_attn_scores.Run(scores, position);
        var pattern = hook_pattern.Run(Softmax(scores), position);
        var z = matmul(dropout.forward(pattern).reshape(batch, keyValueHeads, group * length, keyCount), v).view(batch, heads, length, headDim);
        z = hook_z.Run(z, position);
        return output.Forward(z.transpose(1, 2).reshape(batch, length, heads * headDim), position);
    }

    /// <summary>Softmax over the keys; half-precision scores in float32, as Hugging Face does, then back.</summary>
    private static Tensor Softmax(Tensor scores) => scores.dtype is ScalarType.BFloat16 or ScalarType.Float16
        ? functional.softmax(scores, -1, ScalarType.Float32).to_type(scores.dtype)
        : functional.softmax(scores, -1);

    /// <summary>Rows <c>[batch, position, count · d]</c> as heads <c>[batch, count, position, d]</c>.</summary>
    private Tensor Heads(Tensor rows, int count) => rows.view(rows.shape[0], rows.shape[1], count, headDim).transpose(1, 2);
}
