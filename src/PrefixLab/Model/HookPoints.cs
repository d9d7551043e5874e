using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// The hook points of a model by their TransformerLens names, where tuning methods and analyses attach.
/// The points themselves are <see cref="HookPoint"/> modules in the model's tree; this index is built
/// once from the tree, so it holds exactly the points the forward pass runs. Shapes: <c>hook_embed</c>
/// and the residual points <c>[batch, position, width]</c>; <c>hook_pos_embed</c>
/// <c>[position, width]</c> (the same for every batch row); <c>hook_q</c>, <c>hook_k</c>,
/// <c>hook_v</c>, <c>hook_z</c> <c>[batch, head, position, head_dim]</c> (keys and values span every
/// cached position); <c>hook_attn_scores</c> and <c>hook_pattern</c> <c>[batch, head, query, key]</c>;
/// <c>mlp.hook_pre</c> and <c>mlp.hook_post</c> <c>[batch, position, MLP width]</c>; a Linear layer's
/// <c>hook_out</c> its output. In a rotary family (Llama) <c>hook_k</c> and <c>hook_v</c> have the
/// key/value heads; <c>hook_q</c> and <c>hook_k</c> are the new rows before rotation, and
/// <c>hook_rot_q</c>, <c>hook_rot_k</c> after it; <c>hook_rot_k</c> and <c>hook_v</c> span every
/// cached position; <c>hook_attn_scores</c>, <c>hook_pattern</c> and <c>hook_z</c> have one head per
/// query head.
/// </summary>
public sealed class HookPoints
{
    private readonly Dictionary<string, HookPoint> byName = new(StringComparer.Ordinal);
    private readonly Dictionary<Linear, HookPoint> byLinear = new(ReferenceEqualityComparer.Instance);

    /// <summary>Indexes every <see cref="HookPoint"/> in <paramref name="model"/>'s module tree.</summary>
    internal HookPoints(Module model)
    {
        var modules = model.named_modules().ToList();
        var paths = modules.ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        foreach (var (path, module) in modules)
        {
            if (module is not HookPoint point)
            {
                continue;
            }
            PrefixLabException.Check(byName.TryAdd(point.Name, point), $"two hook points are named '{point.Name}'");
            // A point that watches a Linear layer's output is that layer's child `hook_out`.
            int dot = path.LastIndexOf('.');
            if (dot > 0 && paths.TryGetValue(path[..dot], out var parent) && parent is Linear linear)
            {
                byLinear[linear] = point;
            }
        }
    }

    /// <summary>Every hook point's name, in module order.</summary>
    public IReadOnlyCollection<string> Names => byName.Keys;

    /// <summary>True when at least one hook is attached anywhere.</summary>
    public bool Active => byName.Values.Any(p => p.Active);

    /// <summary>The point named <paramref name="name"/>; an unknown name is a <see cref="PrefixLabException"/>.</summary>
    public HookPoint this[string name] => byName.TryGetValue(name, out var point)
        ? point
        : throw new PrefixLabException($"unknown hook point '{name}' (e.g. {ResidPre(0)}, {Pattern(0)})");

    /// <summary>The point that <paramref name="linear"/>'s output passes (its child <c>hook_out</c>).</summary>
    public HookPoint OutputOf(Linear linear) => byLinear.TryGetValue(linear, out var point)
        ? point
        : throw new PrefixLabException("the Linear layer has no output hook point in this model");

    /// <summary>
    /// Attaches <paramref name="function"/> at <paramref name="name"/>. Several hooks on one point run in
    /// the order they were added. Dispose the result to remove the hook.
    /// </summary>
    public IDisposable Add(string name, HookFunction function) => this[name].Add(function);

    /// <summary>
    /// Attaches every pair of <paramref name="hooks"/> until the result is disposed, as TransformerLens'
    /// <c>run_with_hooks</c> does for one run: <c>using (model.Hooks.Scope((name, fn), …)) { … }</c>.
    /// When a name is unknown nothing stays attached.
    /// </summary>
    public IDisposable Scope(params IEnumerable<(string Name, HookFunction Function)> hooks)
    {
        var scope = new HookScope();
        try
        {
            foreach (var (name, function) in hooks)
            {
                scope.Handles.Add(Add(name, function));
            }
        }
        catch
        {
            scope.Dispose();
            throw;
        }
        return scope;
    }

    /// <summary>Embedding rows of the tokens, before the position embedding is added.</summary>
    public const string Embed = "hook_embed";

    /// <summary>Position embedding rows of the sequence, <c>[position, width]</c>.</summary>
    public const string PosEmbed = "hook_pos_embed";

    /// <summary>The final LayerNorm's output, which the LM head reads (absent without a final LayerNorm).</summary>
    public const string FinalNormalized = "ln_final.hook_normalized";

    /// <summary>The block input, which is also the attention input before its LayerNorm.</summary>
    public static string ResidPre(int layer) => $"blocks.{layer}.hook_resid_pre";

    /// <summary>Queries of a block's attention.</summary>
    public static string Q(int layer) => $"blocks.{layer}.attn.hook_q";

    /// <summary>Keys of a block's attention (all positions the queries attend to).</summary>
    public static string K(int layer) => $"blocks.{layer}.attn.hook_k";

    /// <summary>Value vectors of a block's attention.</summary>
    public static string V(int layer) => $"blocks.{layer}.attn.hook_v";

    /// <summary>Queries after the rotary position embedding (rotary families only).</summary>
    public static string RotQ(int layer) => $"blocks.{layer}.attn.hook_rot_q";

    /// <summary>
    /// Keys after the rotary position embedding, every cached position included (rotary families only):
    /// what a key/value prefix extends, with <see cref="V"/>.
    /// </summary>
    public static string RotK(int layer) => $"blocks.{layer}.attn.hook_rot_k";

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

    /// <summary>The MLP's hidden rows before its (last) activation.</summary>
    public static string MlpPre(int layer) => $"blocks.{layer}.mlp.hook_pre";

    /// <summary>A gated MLP's linear branch (Llama's <c>up_proj</c>), which the activated gate multiplies.</summary>
    public static string MlpPreLinear(int layer) => $"blocks.{layer}.mlp.hook_pre_linear";

    /// <summary>The MLP's hidden rows after its (last) activation: what its output projection reads.</summary>
    public static string MlpPost(int layer) => $"blocks.{layer}.mlp.hook_post";

    /// <summary>The MLP sublayer's contribution to the residual stream.</summary>
    public static string MlpOut(int layer) => $"blocks.{layer}.hook_mlp_out";

    /// <summary>The block output.</summary>
    public static string ResidPost(int layer) => $"blocks.{layer}.hook_resid_post";

    private sealed class HookScope : IDisposable
    {
        public List<IDisposable> Handles { get; } = [];

        public void Dispose()
        {
            foreach (var handle in Handles)
            {
                handle.Dispose();
            }
            Handles.Clear();
        }
    }
}
