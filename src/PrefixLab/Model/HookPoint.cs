using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// A function attached to a hook point. It receives the activation and returns the tensor the forward
/// pass continues with: the same tensor to read, another one to replace it.
/// </summary>
public delegate Tensor HookFunction(Tensor activation, HookContext context);

/// <summary>Where a hook runs.</summary>
/// <param name="Name">The hook point's name, e.g. <c>blocks.0.attn.hook_pattern</c>.</param>
/// <param name="Layer">The block index, or -1 outside the blocks.</param>
/// <param name="Position">
/// Absolute sequence row of the activation's first row. It is 0 for a full forward pass and the
/// number of cached positions during cached generation, so a hook can tell which rows are the prefix.
/// The row's position embedding is this plus <see cref="ILanguageModel.PositionShift"/>. It is -1 at
/// the points of the head (<c>ln_final.hook_normalized</c>, <c>lm_head.hook_out</c>), which see
/// whatever rows the caller passes to <see cref="ILanguageModel.Head"/>.
/// </param>
/// <param name="Input">
/// At the output point of a Linear layer (<c>….c_fc.hook_out</c>), the layer's input, so that a hook
/// can add a function of it (LoRA); null at every other point.
/// </param>
public readonly record struct HookContext(string Name, int Layer, int Position, Tensor? Input = null);

/// <summary>
/// A named point of the forward pass, as in TransformerLens: an identity module, a child of the module
/// whose activation it passes on, that runs the functions attached to it. It has no parameters, so state
/// dicts are the same with or without it. With nothing attached it returns its input after one check,
/// allocating nothing. Its <see cref="Name"/> is the TransformerLens name, fixed when it is built; its
/// path in the module tree is the family's (see <see cref="HookPoints"/>).
/// </summary>
public sealed class HookPoint : Module
{
    private readonly List<Registration> attached = [];

    /// <summary>A point named <paramref name="name"/> inside block <paramref name="layer"/> (-1 outside the blocks).</summary>
    public HookPoint(string name, int layer = -1) : base(name)
    {
        Name = name;
        Layer = layer;
    }

    /// <summary>The TransformerLens name, e.g. <c>blocks.0.attn.hook_pattern</c>.</summary>
    public string Name { get; }

    /// <summary>The block index, or -1 outside the blocks.</summary>
    public int Layer { get; }

    /// <summary>True when at least one function is attached.</summary>
    public bool Active => attached.Count > 0;

    /// <summary>
    /// Attaches <paramref name="function"/>. Several functions on one point run in the order they were
    /// added. Dispose the result to remove it (a second dispose does nothing).
    /// </summary>
    public IDisposable Add(HookFunction function)
    {
        ArgumentNullException.ThrowIfNull(function);
        var registration = new Registration(this, function);
        attached.Add(registration);
        return registration;
    }

    /// <summary>Passes <paramref name="activation"/> (rows from <paramref name="position"/> on) through the attached functions.</summary>
    internal Tensor Run(Tensor activation, int position, Tensor? input = null)
    {
        if (attached.Count == 0)
        {
            return activation;
        }
        var context = new HookContext(Name, Layer, position, input);
        // A copy: a function may remove itself (or add another) while the point runs.
        foreach (var registration in attached.ToArray())
        {
            activation = registration.Function(activation, context);
        }
        return activation;
    }

    private sealed class Registration(HookPoint point, HookFunction function) : IDisposable
    {
        public HookFunction Function { get; } = function;

        public void Dispose() => point.attached.Remove(this);
    }
}

/// <summary>
/// A Linear layer and the hook point its output passes, registered as the layer's child <c>hook_out</c>
/// (so its module path is the layer's plus <c>.hook_out</c>). The hook's context carries the layer's
/// input, which is what LoRA needs. A struct, so the owner's field of it is not registered a second time.
/// </summary>
internal readonly struct HookedLinear
{
    private readonly Products products;

    /// <summary>
    /// Adds the point <paramref name="name"/> (in block <paramref name="block"/>) to <paramref name="layer"/>,
    /// whose product runs in the type <paramref name="products"/> holds.
    /// </summary>
    public HookedLinear(Linear layer, string name, Products products, int block = -1)
    {
        Layer = layer;
        this.products = products;
        Output = new HookPoint(name, block);
        layer.register_module("hook_out", Output);
    }

    /// <summary>The Linear layer.</summary>
    public Linear Layer { get; }

    /// <summary>The point its output passes.</summary>
    public HookPoint Output { get; }

    /// <summary>The layer's output for <paramref name="input"/> (rows from <paramref name="position"/> on), through the point.</summary>
    public Tensor Forward(Tensor input, int position) => Output.Run(products.Linear(Layer, input), position, input);
}
