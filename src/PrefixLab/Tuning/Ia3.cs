using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>IA³'s settings: none (its vectors are fixed by the model's shape).</summary>
public sealed record Ia3Settings : TuningSettings
{
    /// <inheritdoc />
    public override TuningSettings ValidateFor(ModelShape config) => this;
}

/// <summary>
/// IA³ (Liu et al. 2022, "Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context
/// Learning"): learned vectors that rescale activations, as Hugging Face PEFT's <c>IA3</c> adapts a model
/// with its defaults for the family (<see cref="ModelFamily.Ia3"/>): for GPT-2
/// <c>target_modules = ["c_attn", "mlp.c_proj"]</c>, <c>feedforward_modules = ["mlp.c_proj"]</c>; for
/// Llama <c>["k_proj", "v_proj", "down_proj"]</c> with <c>down_proj</c> feedforward. PEFT multiplies
/// the output of a target that is not a feedforward module by a vector <c>ia3_l</c> of shape
/// <c>[out, 1]</c>, and the input of a feedforward module by one of shape <c>[1, in]</c>. For GPT-2's
/// fused Conv1D <c>c_attn</c> (PEFT reads its <c>[in, out]</c> weight as in = width, out = 3 · width,
/// so <c>fan_in_fan_out</c> changes nothing here) the vector scales the whole fused output, bias
/// included: the queries as well as the keys and values, not only the keys and values of the paper.
/// A feedforward vector scales the MLP's inner activation, the input of its output projection. This
/// class does exactly that through the hook points the family names (<see cref="Ia3Part"/>): for GPT,
/// the three thirds of each block's <c>c_attn</c> vector at <c>hook_q</c>, <c>hook_k</c> and
/// <c>hook_v</c> (per head, as the model splits the width), the feedforward vector at
/// <c>mlp.hook_post</c>. Every vector starts at ones (PEFT's <c>init_ia3_weights</c>), so training
/// starts from the base model; unlike a prefix, IA³ can move the attention of the content. Its tensors
/// have PEFT's names and shapes, <c>{block}.{module}.ia3_l</c> (<c>transformer.h.L.attn.c_attn.ia3_l</c>
/// <c>[3 · width, 1]</c>, <c>transformer.h.L.mlp.c_proj.ia3_l</c> <c>[1, mlp width]</c>); a PEFT file
/// prefixes them with <c>base_model.model.</c>. It has no size to vary and no options.
/// </summary>
public sealed class Ia3 : TuningMethod<Ia3Settings>
{
    private const string Suffix = ".ia3_l";

    // Per block, one vector per target of the family, in the family's order.
    private readonly Parameter[][] vectors;

    /// <summary>Creates a ones vector for every IA³ target of every block (<see cref="ModelFamily.Ia3"/>), and attaches them.</summary>
    public Ia3(ILanguageModel model, Ia3Settings settings) : base(model, settings, trainsBase: false)
    {
        var targets = model.Family.Ia3;
        vectors = [.. Enumerable.Range(0, model.Shape.Layers).Select(_ => targets
            .Select(t => new Parameter(t.FeedForward ? ones(1, t.Length) : ones(t.Length, 1), requires_grad: true)).ToArray())];
        for (int layer = 0; layer < vectors.Length; layer++)
        {
            for (int target = 0; target < targets.Count; target++)
            {
                var vector = vectors[layer][target];
                long offset = 0;
                foreach (var part in targets[target].Parts)
                {
                    Hook(ModelFamily.Hook(layer, part.Hook), Scale(vector, targets[target].Parts.Count == 1 ? null : offset, part));
                    offset += part.Length;
                }
            }
        }
    }

    /// <summary>IA³'s registration: no size, no options, PEFT's <c>IA3</c>.</summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [.. vectors.SelectMany(v => v)];

    /// <inheritdoc />
    /// <remarks>T-Few's rate (Liu et al. 2022, §3.3).</remarks>
    public override double DefaultLearningRate => 3e-3;

    /// <inheritdoc />
    /// <remarks>None: decay would pull the scales toward 0, away from the identity they start at.</remarks>
    public override double DefaultWeightDecay => 0;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        Enumerable.Range(0, vectors.Length)
            .SelectMany(l => Model.Family.Ia3.Select((t, i) => ($"{Model.Family.Block(l)}{t.Module}{Suffix}", (Tensor)vectors[l][i])))
            .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);

    /// <summary>
    /// The hook that multiplies an activation by <paramref name="part"/>'s slice of <paramref name="vector"/>
    /// (from <paramref name="offset"/>; null: the whole vector), per head or along its last axis.
    /// </summary>
    private static HookFunction Scale(Parameter vector, long? offset, Ia3Part part) => (activation, _) =>
    {
        var scale = offset is long from ? vector.view(-1)[TensorIndex.Slice(from, from + part.Length)] : vector.view(-1);
        return activation * (part.Heads > 0 ? scale.view(part.Heads, 1, part.Length / part.Heads) : scale).to_type(activation.dtype);
    };

    private sealed class Descriptor : MethodKind<Ia3Settings>
    {
        public override string Name => "ia3";

        public override IPeftMapping Peft { get; } = new Ia3Peft();

        protected override ITuningMethod Attach(ILanguageModel model, Ia3Settings settings, Generator generator) => new Ia3(model, settings);
    }

    /// <summary>PEFT's <c>IA3</c> with the family's default targets; a file that scales fewer layers loads with ones (no scaling) for the rest.</summary>
    private sealed class Ia3Peft : IPeftMapping
    {
        public string PeftType => "IA3";

        public bool Imports => true;

        public Dictionary<string, Tensor> Export(ITuningMethod method, ILanguageModel model, JsonObject config)
        {
            var targets = model.Family.Ia3;
            config["target_modules"] = new JsonArray([.. targets.Select(t => (JsonNode)t.PeftName)]);
            config["feedforward_modules"] = new JsonArray([.. targets.Where(t => t.FeedForward).Select(t => (JsonNode)t.PeftName)]);
            config["fan_in_fan_out"] = model.Family.FanInFanOut;
            config["init_ia3_weights"] = true;
            config["modules_to_save"] = null;
            return method.SaveTensors().ToDictionary(kv => PeftFormat.ModulePrefix + kv.Key, kv => kv.Value.contiguous(), StringComparer.Ordinal);
        }

        public (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, ILanguageModel model, string directory)
        {
            PrefixLabException.Check(!PeftFormat.IsSet(config["modules_to_save"]), $"'{directory}/{PeftFormat.ConfigFile}': modules_to_save is set (whole layers trained beside the IA³ vectors); PrefixLab's IA³ does not support it");
            using var probe = new Ia3(model, new Ia3Settings());
            var expected = probe.SaveTensors();
            var modules = expected.Keys.Select(k => k[..^Suffix.Length]).ToHashSet(StringComparer.Ordinal);
            var mine = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (key, value) in tensors)
            {
                string name = key.StartsWith(PeftFormat.ModulePrefix, StringComparison.Ordinal) ? key[PeftFormat.ModulePrefix.Length..] : key;
                name = name.EndsWith(".ia3_l.default", StringComparison.Ordinal) ? name[..^".default".Length] : name;
                PrefixLabException.Check(name.EndsWith(Suffix, StringComparison.Ordinal), $"'{directory}': tensor '{key}' is not an IA³ vector (ia3_l)");
                string written = name[..^Suffix.Length];
                string module = PeftFormat.ResolveModule(written, modules, model)
                    ?? throw new PrefixLabException($"'{directory}': tensor '{key}' scales '{written}'; PrefixLab's IA³ scales each block's {Targets(model)} (PEFT's defaults for {model.Family.Name})");
                var shape = expected[module + Suffix].shape;
                PrefixLabException.Check(value.shape.SequenceEqual(shape),
                    $"'{directory}': tensor '{key}' has shape [{string.Join(", ", value.shape)}], expected [{string.Join(", ", shape)}] ({(shape[1] == 1 ? "the output of a target" : "the input of a feedforward module")})");
                PrefixLabException.Check(mine.TryAdd(module + Suffix, value), $"'{directory}': tensor '{key}' appears twice (with and without '.default')");
            }
            PrefixLabException.Check(mine.Count > 0, $"'{directory}' holds no IA³ vectors");
            // A layer the file does not scale is left as it is: a vector of ones.
            foreach (var (name, ones) in expected.Where(e => !mine.ContainsKey(e.Key)))
            {
                mine[name] = ones.detach().clone();
            }
            return (new Ia3Settings(), mine);
        }

        /// <summary>The family's IA³ targets in words: <c>attn.c_attn output and mlp.c_proj input</c>.</summary>
        private static string Targets(ILanguageModel model) =>
            string.Join(" and ", model.Family.Ia3.Select(t => $"{t.Module} {(t.FeedForward ? "input" : "output")}"));
    }
}
