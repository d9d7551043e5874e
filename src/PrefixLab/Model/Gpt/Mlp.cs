using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// minGPT's MLP: <c>c_fc</c> (E → 4E), tanh-approximated GELU, <c>c_proj</c> (4E → E), dropout. The
/// constructions of paper Section 3 configure ReLU, another hidden width, and more hidden layers
/// (<c>c_mid.0</c>, <c>c_mid.1</c>, …, each followed by the activation). Its hook points are
/// <c>blocks.L.mlp.hook_pre</c> and <c>hook_post</c> around the (last) activation, and each Linear
/// layer's <c>hook_out</c>.
/// </summary>
internal sealed class Mlp : Module
{
#pragma warning disable IDE1006 // field names are the state-dict names of minGPT and GPT-2, and TransformerLens' hook names
    private readonly Linear c_fc;
    private readonly ModuleList<Linear>? c_mid;
    private readonly Linear c_proj;
    private readonly HookPoint hook_pre;
    private readonly HookPoint hook_post;
#pragma warning restore IDE1006
    private readonly HookedLinear input;
    private readonly HookedLinear[] middle;
    private readonly HookedLinear output;
    private readonly MaskDropout dropout;
    private readonly bool relu;

    /// <summary>
    /// Creates block <paramref name="layer"/>'s MLP for <paramref name="config"/>, its dropout drawing from
    /// <paramref name="dropout"/>, its products in the type <paramref name="products"/> holds.
    /// </summary>
    public Mlp(GptConfig config, DropoutStream dropout, Products products, int layer) : base("mlp")
    {
        int hidden = config.MlpWidth;
        c_fc = Linear(config.Width, hidden);
        // Absent (not empty) at depth 1, so minGPT's module tree stays exactly as it was.
        c_mid = config.MlpDepth > 1 ? new ModuleList<Linear>([.. Enumerable.Range(1, config.MlpDepth - 1).Select(_ => Linear(hidden, hidden))]) : null;
        c_proj = Linear(hidden, config.Width);
        string at = $"blocks.{layer}.mlp.";
        input = new HookedLinear(c_fc, at + "c_fc.hook_out", products, layer);
        middle = [.. (c_mid ?? []).Select((linear, i) => new HookedLinear(linear, $"{at}c_mid.{i}.hook_out", products, layer))];
        output = new HookedLinear(c_proj, at + "c_proj.hook_out", products, layer);
        hook_pre = new HookPoint(HookPoints.MlpPre(layer), layer);
        hook_post = new HookPoint(HookPoints.MlpPost(layer), layer);
        this.dropout = new MaskDropout(config.Dropout, dropout);
        relu = config.Activation == MlpActivation.Relu;
        RegisterComponents();
    }

    /// <summary>The MLP's output for rows <paramref name="x"/>, which start at sequence row <paramref name="position"/>.</summary>
    internal Tensor Forward(Tensor x, int position)
    {
        var h = input.Forward(x, position);
        foreach (var layer in middle)
        {
            h = layer.Forward(Activate(h), position);
        }
        h = hook_post.Run(Activate(hook_pre.Run(h, position)), position);
        return dropout.forward(output.Forward(h, position));
    }

    /// <summary>GELU with the tanh approximation, which is what minGPT's <c>NewGELU</c> computes.</summary>
    public static Tensor NewGelu(Tensor x) =>
        functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh);

    private Tensor Activate(Tensor x) => relu ? functional.relu(x) : NewGelu(x);
}
