using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// The SwiGLU MLP of Hugging Face's <c>LlamaMLP</c>: <c>down_proj(silu(gate_proj(x)) · up_proj(x))</c>.
/// Hook points as TransformerLens names them for gated MLPs: <c>mlp.hook_pre</c> (the gate before its
/// activation), <c>mlp.hook_pre_linear</c> (<c>up_proj</c>'s rows), <c>mlp.hook_post</c> (their
/// product, what <c>down_proj</c> reads), and each Linear's <c>hook_out</c>.
/// </summary>
internal sealed class LlamaMlp : Module
{
#pragma warning disable IDE1006 // Hugging Face's state-dict names and TransformerLens' hook names
    private readonly Linear gate_proj;
    private readonly Linear up_proj;
    private readonly Linear down_proj;
    private readonly HookPoint hook_pre;
    private readonly HookPoint hook_pre_linear;
    private readonly HookPoint hook_post;
#pragma warning restore IDE1006
    private readonly HookedLinear gate;
    private readonly HookedLinear up;
    private readonly HookedLinear down;

    /// <summary>Creates block <paramref name="layer"/>'s MLP, its weights uninitialised in <paramref name="dtype"/>.</summary>
    public LlamaMlp(LlamaConfig config, ScalarType dtype, int layer) : base("mlp")
    {
        gate_proj = LlamaLinear.Create(config.Width, config.MlpWidth, false, dtype);
        up_proj = LlamaLinear.Create(config.Width, config.MlpWidth, false, dtype);
        down_proj = LlamaLinear.Create(config.MlpWidth, config.Width, false, dtype);
        string at = $"blocks.{layer}.mlp.";
        gate = new HookedLinear(gate_proj, at + "gate_proj.hook_out", LlamaLinear.Products, layer);
        up = new HookedLinear(up_proj, at + "up_proj.hook_out", LlamaLinear.Products, layer);
        down = new HookedLinear(down_proj, at + "down_proj.hook_out", LlamaLinear.Products, layer);
        hook_pre = new HookPoint(HookPoints.MlpPre(layer), layer);
        hook_pre_linear = new HookPoint(HookPoints.MlpPreLinear(layer), layer);
        hook_post = new HookPoint(HookPoints.MlpPost(layer), layer);
        RegisterComponents();
    }

    /// <summary>The MLP's output for rows <paramref name="x"/>, which start at sequence row <paramref name="position"/>.</summary>
    internal Tensor Forward(Tensor x, int position)
    {
        var pre = hook_pre.Run(gate.Forward(x, position), position);
        var linear = hook_pre_linear.Run(up.Forward(x, position), position);
        var activated = functional.silu(pre);
        // In place only on silu's own output, which nothing else holds.
        var post = hook_post.Run(activated.mul_(linear), position);
        return down.Forward(post, position);
    }
}

/// <summary>Linear layers of the Llama family, built without drawing initial weights.</summary>
internal static class LlamaLinear
{
    /// <summary>
    /// The product setting every Llama layer reads: never switched, since a Llama model computes in the
    /// type its weights were loaded in (<see cref="Llama.ComputeIn"/> refuses mixed precision).
    /// </summary>
    public static Products Products { get; } = new();

    /// <summary>
    /// A Linear layer (<paramref name="inputs"/> → <paramref name="outputs"/>) whose weights are
    /// allocated in <paramref name="dtype"/> and not initialised: a loader overwrites them, and
    /// TorchSharp's default initialisation would cost seconds and a float32 copy of every weight.
    /// </summary>
    public static Linear Create(long inputs, long outputs, bool bias, ScalarType dtype) =>
        Linear(new Parameter(empty(outputs, inputs, dtype)), bias ? new Parameter(empty(outputs, dtype)) : null);
}
