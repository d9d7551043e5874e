using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// minGPT's MLP: <c>c_fc</c> (E → 4E), tanh-approximated GELU, <c>c_proj</c> (4E → E), dropout. The
/// constructions of paper Section 3 configure ReLU, another hidden width, and more hidden layers
/// (<c>c_mid.0</c>, <c>c_mid.1</c>, …, each followed by the activation).
/// </summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the state-dict names of minGPT and GPT-2
    private readonly Linear c_fc;
    private readonly ModuleList<Linear>? c_mid;
    private readonly Linear c_proj;
#pragma warning restore IDE1006
    private readonly MaskDropout dropout;
    private readonly bool relu;

    /// <summary>Creates the layer for <paramref name="config"/>, its dropout drawing from <paramref name="dropout"/>.</summary>
    public Mlp(GptConfig config, DropoutStream dropout) : base("mlp")
    {
        int hidden = config.MlpWidth;
        c_fc = Linear(config.Width, hidden);
        // Absent (not empty) at depth 1, so minGPT's module tree stays exactly as it was.
        c_mid = config.MlpDepth > 1 ? new ModuleList<Linear>([.. Enumerable.Range(1, config.MlpDepth - 1).Select(_ => Linear(hidden, hidden))]) : null;
        c_proj = Linear(hidden, config.Width);
        this.dropout = new MaskDropout(config.Dropout, dropout);
        relu = config.Activation == MlpActivation.Relu;
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => Forward(x, null, 0, 0);

    /// <summary>Runs the MLP with the hooks at block <paramref name="layer"/>'s <see cref="HookPoints.MlpPost"/>.</summary>
    internal Tensor Forward(Tensor x, HookPoints? hooks, int layer, int position)
    {
        var h = Activate(c_fc.call(x));
        foreach (var mid in c_mid ?? [])
        {
            h = Activate(mid.call(h));
        }
        if (hooks is not null)
        {
            h = hooks.Run(HookPoints.MlpPost(layer), h, layer, position);
        }
        return dropout.forward(c_proj.call(h));
    }

    /// <summary>GELU with the tanh approximation, which is what minGPT's <c>NewGELU</c> computes.</summary>
    public static Tensor NewGelu(Tensor x) =>
        functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh);

    private Tensor Activate(Tensor x) => relu ? functional.relu(x) : NewGelu(x);
}
