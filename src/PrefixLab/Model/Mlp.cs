using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>minGPT's MLP: <c>c_fc</c> (E → 4E), tanh-approximated GELU, <c>c_proj</c> (4E → E), dropout.</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the state-dict names of minGPT and GPT-2
    private readonly Linear c_fc;
    private readonly Linear c_proj;
#pragma warning restore IDE1006
    private readonly MaskDropout dropout;

    /// <summary>Creates the layer for <paramref name="config"/>, its dropout drawing from <paramref name="dropout"/>.</summary>
    public Mlp(GptConfig config, DropoutStream dropout) : base("mlp")
    {
        c_fc = Linear(config.Width, 4 * config.Width);
        c_proj = Linear(4 * config.Width, config.Width);
        this.dropout = new MaskDropout(config.Dropout, dropout);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => dropout.forward(c_proj.call(NewGelu(c_fc.call(x))));

    /// <summary>GELU with the tanh approximation, which is what minGPT's <c>NewGELU</c> computes.</summary>
    public static Tensor NewGelu(Tensor x) =>
        functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh);
}
