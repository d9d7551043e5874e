using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// A pre-norm Llama block (Hugging Face's <c>LlamaDecoderLayer</c>): <c>x + self_attn(input_layernorm(x))</c>,
/// then <c>x + mlp(post_attention_layernorm(x))</c>. Its hook points are <c>blocks.L.hook_resid_pre</c>,
/// <c>hook_attn_out</c>, <c>hook_resid_mid</c>, <c>hook_mlp_out</c> and <c>hook_resid_post</c>, besides
/// those of its attention and MLP.
/// </summary>
internal sealed class LlamaBlock : Module
{
#pragma warning disable IDE1006 // Hugging Face's state-dict names and TransformerLens' hook names
    private readonly RmsNorm input_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly LlamaMlp mlp;
    private readonly HookPoint hook_resid_pre;
    private readonly HookPoint hook_attn_out;
    private readonly HookPoint hook_resid_mid;
    private readonly HookPoint hook_mlp_out;
    private readonly HookPoint hook_resid_post;
#pragma warning restore IDE1006

    /// <summary>Creates block <paramref name="layer"/>, its weights uninitialised in <paramref name="dtype"/>.</summary>
    public LlamaBlock(LlamaConfig config, ScalarType dtype, DropoutStream dropout, int layer) : base("layer")
    {
        input_layernorm = new RmsNorm(config.Width, config.RmsNormEps, dtype);
        self_attn = new LlamaAttention(config, dtype, dropout, layer);
        post_attention_layernorm = new RmsNorm(config.Width, config.RmsNormEps, dtype);
        mlp = new LlamaMlp(config, dtype, layer);
        hook_resid_pre = new HookPoint(HookPoints.ResidPre(layer), layer);
        hook_attn_out = new HookPoint(HookPoints.AttnOut(layer), layer);
        hook_resid_mid = new HookPoint(HookPoints.ResidMid(layer), layer);
        hook_mlp_out = new HookPoint(HookPoints.MlpOut(layer), layer);
        hook_resid_post = new HookPoint(HookPoints.ResidPost(layer), layer);
        RegisterComponents();
    }

    /// <summary>
    /// Runs the block on <paramref name="x"/>, whose rows start at sequence row <paramref name="position"/>
    /// and are rotated by <paramref name="rotation"/>; with <paramref name="queryFrom"/> &gt; 0 only the
    /// rows from there on come out (the earlier rows still serve as keys and values).
    /// </summary>
    internal Tensor Forward(Tensor x, KvCache? cache, int position, Rotation rotation, int queryFrom = 0)
    {
        x = hook_resid_pre.Run(x, position);
        var attnOut = self_attn.Forward(input_layernorm.forward(x), cache, position, rotation, queryFrom);
        if (queryFrom > 0)
        {
            x = x[.., queryFrom..];
            position += queryFrom;
        }
        attnOut = hook_attn_out.Run(attnOut, position);
        x = hook_resid_mid.Run(x + attnOut, position);
        var mlpOut = hook_mlp_out.Run(mlp.Forward(post_attention_layernorm.forward(x), position), position);
        return hook_resid_post.Run(x + mlpOut, position);
    }
}
