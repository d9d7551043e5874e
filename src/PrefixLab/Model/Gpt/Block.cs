using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// A pre-LayerNorm transformer block: <c>x + attn(ln_1(x))</c>, then <c>x + mlp(ln_2(x))</c>. Its hook
/// points are <c>blocks.L.hook_resid_pre</c>, <c>hook_attn_out</c>, <c>hook_resid_mid</c>,
/// <c>hook_mlp_out</c> and <c>hook_resid_post</c>, besides those of its attention and MLP.
/// </summary>
internal sealed class Block : Module
{
#pragma warning disable IDE1006 // minGPT's state-dict names, and TransformerLens' hook names
    private readonly LayerNorm? ln_1;
    private readonly Attention attn;
    private readonly LayerNorm? ln_2;
    private readonly Mlp mlp;
    private readonly HookPoint hook_resid_pre;
    private readonly HookPoint hook_attn_out;
    private readonly HookPoint hook_resid_mid;
    private readonly HookPoint hook_mlp_out;
    private readonly HookPoint hook_resid_post;
#pragma warning restore IDE1006

    /// <summary>
    /// Creates block <paramref name="layer"/>; without <see cref="GptConfig.AttnLayerNorm"/> it has no
    /// <c>ln_1</c>, without <see cref="GptConfig.LayerNorms"/> no LayerNorm at all. Its dropout draws from
    /// <paramref name="dropout"/>; its products run in the type <paramref name="products"/> holds.
    /// </summary>
    public Block(GptConfig config, DropoutStream dropout, Products products, int layer) : base("block")
    {
        ln_1 = config.AttnLayerNorm && config.LayerNorms ? LayerNorm(config.Width) : null;
        attn = new Attention(config, dropout, products, layer);
        ln_2 = config.LayerNorms ? LayerNorm(config.Width) : null;
        mlp = new Mlp(config, dropout, products, layer);
        hook_resid_pre = new HookPoint(HookPoints.ResidPre(layer), layer);
        hook_attn_out = new HookPoint(HookPoints.AttnOut(layer), layer);
        hook_resid_mid = new HookPoint(HookPoints.ResidMid(layer), layer);
        hook_mlp_out = new HookPoint(HookPoints.MlpOut(layer), layer);
        hook_resid_post = new HookPoint(HookPoints.ResidPost(layer), layer);
        RegisterComponents();
    }

    /// <summary>
    /// Runs the block on <paramref name="x"/>, whose rows start at sequence row <paramref name="position"/>;
    /// with <paramref name="queryFrom"/> &gt; 0 only the rows from there on come out (the earlier rows
    /// still serve as keys and values).
    /// </summary>
    internal Tensor Forward(Tensor x, KvCache? cache, int position, int queryFrom = 0)
    {
        x = hook_resid_pre.Run(x, position);
        var attnIn = ln_1 is null ? x : ln_1.forward(x);
        var attnOut = attn.Forward(attnIn, cache, position, queryFrom);
        if (queryFrom > 0)
        {
            x = x[TensorIndex.Colon, TensorIndex.Slice(queryFrom)];
            position += queryFrom;
        }
        attnOut = hook_attn_out.Run(attnOut, position);
        x = hook_resid_mid.Run(x + attnOut, position);
        var mlpOut = hook_mlp_out.Run(mlp.Forward(ln_2 is null ? x : ln_2.forward(x), position), position);
        return hook_resid_post.Run(x + mlpOut, position);
    }
}
