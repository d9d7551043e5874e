using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Model;

/// <summary>
/// A function attached to a named point of the forward pass. It receives the activation and returns the
/// tensor the forward pass continues with: the same tensor to read, another one to replace it.
/// </summary>
public delegate Tensor HookFunction(Tensor activation, HookContext context);

/// <summary>Where a hook runs.</summary>
/// <param name="Name">The hook point's name, e.g. <c>blocks.0.attn.hook_pattern</c>.</param>
/// <param name="Layer">The block index, or -1 outside the blocks.</param>
/// <param name="Position">
/// Absolute sequence row of the activation's first row. It is 0 for a full forward pass and the
/// number of cached positions during cached generation, so a hook can tell which rows are the prefix.
/// The row's position embedding is this plus <see cref="Gpt.PositionShift"/>.
/// </param>
public readonly record struct HookContext(string Name, int Layer, int Position);

/// <summary>
/// Named points of the forward pass, named as TransformerLens names them, where tuning methods and
/// analyses attach. Shapes: residual points <c>[batch, position, width]</c>; <c>hook_q</c>,
/// <c>hook_k</c>, <c>hook_v</c>, <c>hook_z</c> <c>[batch, head, position, head_dim]</c> (keys and values
/// span every cached position); <c>hook_attn_scores</c> and <c>hook_pattern</c>
/// <c>[batch, head, query, key]</c>.
/// </summary>
public sealed class HookPoints
{
    private readonly HashSet<string> known;
    private readonly Dictionary<string, List<Registration>> hooks = new(StringComparer.Ordinal);
    private int count;

    internal HookPoints(IEnumerable<string> names)
    {
        known = new HashSet<string>(names, StringComparer.Ordinal);
    }

    /// <summary>Every hook point of the model, in forward order.</summary>
    public IReadOnlyCollection<string> Names => known;

    /// <summary>True when at least one hook is attached.</summary>
    public bool Active => count > 0;

    /// <summary>The block input, which is also the attention input before its LayerNorm.</summary>
    public static string ResidPre(int layer) => $"blocks.{layer}.hook_resid_pre";

    /// <summary>Queries of a block's attention.</summary>
    public static string Q(int layer) => $"blocks.{layer}.attn.hook_q";

    /// <summary>Keys of a block's attention (all positions the queries attend to).</summary>
    public static string K(int layer) => $"blocks.{layer}.attn.hook_k";

    /// <summary>Value vectors of a block's attention.</summary>
    public static string V(int layer) => $"blocks.{layer}.attn.hook_v";

    /// <summary>Masked, scaled attention scores before the softmax.</summary>
    public static string Scores(int layer) => $"blocks.{layer}.attn.hook_attn_scores";

    /// <summary>Attention probabilities.</summary>
    public static string Pattern(int layer) => $"blocks.{layer}.attn.hook_pattern";

    /// <summary>Per-head outputs before the output projection.</summary>
    public static string Z(int layer) => $"blocks.{layer}.attn.hook_z";

    /// <summary>The attention sublayer's contribution to the residual stream.</summary>
    public static string AttnOut(int layer) => $"blocks.{layer}.hook_attn_out";

    /// <summary>The residual stream between attention and MLP.</summary>
    public static string ResidMid(int layer) => $"blocks.{layer}.hook_resid_mid";

    /// <summary>The MLP's inner activation, <c>[batch, position, mlp width]</c>: the input of its output projection.</summary>
    public static string MlpPost(int layer) => $"blocks.{layer}.mlp.hook_post";

    /// <summary>The MLP sublayer's contribution to the residual stream.</summary>
    public static string MlpOut(int layer) => $"blocks.{layer}.hook_mlp_out";

    /// <summary>The block output.</summary>
    public static string ResidPost(int layer) => $"blocks.{layer}.hook_resid_post";

    /// <summary>All hook point names of one block, in forward order.</summary>
    public static IEnumerable<string> BlockNames(int layer) =>
    [
        ResidPre(layer), Q(layer), K(layer), V(layer), Scores(layer), Pattern(layer), Z(layer),
        AttnOut(layer), ResidMid(layer), MlpPost(layer), MlpOut(layer), ResidPost(layer),
    ];

    /// <summary>
    /// Attaches <paramref name="function"/> at <paramref name="name"/>. Several hooks on one point run in
    /// the order they were added. Dispose the result to remove the hook.
    /// </summary>
    public IDisposable Add(string name, HookFunction function)
    {
        if (!known.Contains(name))
        {
            throw new PrefixLabException($"unknown hook point '{name}' (e.g. {ResidPre(0)}, {Pattern(0)})");
        }
        if (!hooks.TryGetValue(name, out var list))
        {
            hooks[name] = list = [];
        }
        var registration = new Registration(this, name, function);
        list.Add(registration);
        count++;
        return registration;
    }

    /// <summary>Runs the hooks at <paramref name="name"/>; the forward pass calls this at each point.</summary>
    internal Tensor Run(string name, Tensor activation, int layer, int position)
    {
        if (count == 0 || !hooks.TryGetValue(name, out var list) || list.Count == 0)
        {
            return activation;
        }
        var context = new HookContext(name, layer, position);
        foreach (var registration in list.ToArray())
        {
            activation = registration.Function(activation, context);
        }
        return activation;
    }

    private void Remove(Registration registration)
    {
        if (hooks.TryGetValue(registration.Name, out var list) && list.Remove(registration))
        {
            count--;
        }
    }

    private sealed class Registration(HookPoints owner, string name, HookFunction function) : IDisposable
    {
        public string Name { get; } = name;

        public HookFunction Function { get; } = function;

        public void Dispose() => owner.Remove(this);
    }
}
