using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>Prefix-kv's settings: a prompt's, the optional projection and where the content sits.</summary>
public sealed record PrefixKvSettings : PromptSettings
{
    /// <summary>
    /// Train the keys and values through an MLP with this hidden width (Li and Liang's
    /// reparameterisation, PEFT's <c>prefix_projection</c>); null trains them directly.
    /// </summary>
    public int? ProjectionHidden { get; init; }

    /// <summary>
    /// Where the content sits on the position embedding. Not part of the settings' JSON: an adapter file
    /// records it in <see cref="AdapterInfo.Positions"/>, and files without that field are read as
    /// <see cref="KvPositions.FromZero"/>.
    /// </summary>
    [JsonIgnore]
    public KvPositions KvPositions { get; init; }

    /// <inheritdoc />
    public override TuningSettings ValidateFor(ModelShape config)
    {
        base.ValidateFor(config);
        PrefixLabException.Check(ProjectionHidden is null, "a saved prefix-kv adapter holds its keys and values without the projection (projection_hidden must be null)");
        return this;
    }
}

/// <summary>
/// Prefix-tuning in Li and Liang's form, as Hugging Face PEFT implements it: at every block, P trainable
/// keys and values per head that every query also attends to. The prefix takes positions 0 … P−1 and
/// the content follows at P …, as a Hugging Face model places tokens after P <c>past_key_values</c>
/// (<see cref="KvPositions.AfterPrefix"/>; files from before keep <see cref="KvPositions.FromZero"/>).
/// Optionally the keys and values are produced by a small MLP while training (PEFT's
/// <c>prefix_projection</c>); saving folds them into plain keys and values. In PEFT it is
/// <c>PREFIX_TUNING</c>: one tensor <c>prompt_embeddings</c> <c>[P, layers · 2 · width]</c>, which PEFT
/// views as <c>[P, layers · 2, heads, head_dim]</c> with layer l's keys at row 2l and its values at
/// 2l + 1: the keys and values <c>[layer, key/value, head, P, head_dim]</c> permuted; both tools put the
/// content at positions P … after the prefix. With grouped-query attention the heads are the key/value
/// heads and the width theirs (PEFT's <c>token_dim</c> and <c>num_attention_heads</c> say so). The
/// vectors are what attention reads as keys and values (<see cref="ModelFamily.PrefixKeys"/>): for a
/// family with rotary embeddings, after the rotation, as Hugging Face's cached keys are.
/// </summary>
public sealed class PrefixKv : TuningMethod<PrefixKvSettings>
{
    private readonly Parameter? keysValues;
    private readonly Parameter? embedding;
    private readonly Sequential? projection;
    private readonly int layers;
    private readonly int heads;
    private readonly int headDim;
    private readonly int size;

    /// <summary>
    /// Creates the keys and values (or their MLP: the embedding, then each Linear's weight and bias as
    /// PyTorch initialises them) from <paramref name="generator"/> (seed 0 when null) and attaches them
    /// to every block's attention.
    /// </summary>
    public PrefixKv(ILanguageModel model, PrefixKvSettings settings, Generator? generator = null) : base(model, settings, trainsBase: false)
    {
        using var own = generator is null ? new Generator(0) : null;
        generator ??= own!;
        layers = model.Shape.Layers;
        heads = model.Shape.KeyValueHeads;
        headDim = model.Shape.HeadDim;
        size = settings.RequiredPrefixSize(Name);
        int width = model.Shape.Width;
        if (settings.ProjectionHidden is int hidden)
        {
            PrefixLabException.Check(hidden >= 1, $"prefix-kv projection width must be at least 1 (got {hidden})");
            embedding = NormalParameter([size, width], settings.InitStd, generator);
            var first = nn.Linear(width, hidden);
            var second = nn.Linear(hidden, layers * 2 * heads * headDim);
            foreach (var linear in new[] { first, second })
            {
                // PyTorch Linear's own initialisation, drawn again from the generator.
                KaimingUniform(linear.weight, Math.Sqrt(5), generator);
                using var noGrad = no_grad();
                double bound = 1 / Math.Sqrt(linear.weight.shape[1]);
                linear.bias!.uniform_(-bound, bound, generator);
            }
            projection = nn.Sequential(first, nn.Tanh(), second);
        }
        else
        {
            keysValues = NormalParameter([layers, 2, heads, size, headDim], settings.InitStd, generator);
        }
        if (settings.KvPositions == KvPositions.AfterPrefix)
        {
            Track(model.ShiftPositions(size));
        }
        for (int layer = 0; layer < layers; layer++)
        {
            int l = layer;
            Hook(ModelFamily.Hook(l, model.Family.PrefixKeys), (keys, _) => Prepend(keys, l, 0));
            Hook(ModelFamily.Hook(l, model.Family.PrefixValues), (values, _) => Prepend(values, l, 1));
        }
    }

    /// <inheritdoc />
    public override int PositionShift => Settings.KvPositions == KvPositions.AfterPrefix ? size : 0;

    /// <summary>
    /// Prefix-kv's registration: a context method sized by its prefix, with its projection knob, PEFT's
    /// prefix tuning, and the content-after-prefix revision in its run identity.
    /// </summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters =>
        keysValues is not null ? [keysValues] : [embedding!, .. projection!.parameters()];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5;

    /// <summary>The keys and values, <c>[layer, 2 (keys, values), key/value head, P, head_dim]</c>.</summary>
    public Tensor KeysValues() => keysValues ?? projection!.forward(embedding!)
        .view(size, layers, 2, heads, headDim).permute(1, 2, 3, 0, 4);

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors()
    {
        using var noGrad = no_grad();
        return new Dictionary<string, Tensor> { ["prefix.keys_values"] = KeysValues().contiguous() };
    }

    /// <inheritdoc />
    public override void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors)
    {
        PrefixLabException.Check(keysValues is not null, "a prefix-kv adapter is loaded as plain keys and values (no projection)");
        base.LoadTensors(tensors);
    }

    /// <inheritdoc />
    protected override void OnDispose() => projection?.Dispose();

    private Tensor Prepend(Tensor activation, int layer, int which)
    {
        var prefix = KeysValues()[layer, which].unsqueeze(0).expand(activation.shape[0], heads, size, headDim);
        return cat([prefix.to_type(activation.dtype), activation], 2);
    }

    private sealed class Descriptor : MethodKind<PrefixKvSettings>
    {
        public override string Name => "prefix-kv";

        public override bool IsContext => true;

        public override SizeKnob Size => ContextKnobs.Size;

        public override IReadOnlyList<Knob> Knobs { get; } =
        [
            ContextKnobs.PrefixSize,
            new Knob<PrefixKvSettings>("projection", KnobType.Int, "H", "prefix-kv: train through an MLP of width H (folded when saved)", 1, 65_536, (s, v) => s with { ProjectionHidden = (int)v })
            {
                DefaultText = "none: the keys and values are trained directly",
            },
            ContextKnobs.InitStd,
        ];

        public override IPeftMapping Peft { get; } = new KvPeft();

        protected override ITuningMethod Attach(ILanguageModel model, PrefixKvSettings settings, Generator generator) => new PrefixKv(model, settings, generator);

        // The file holds the folded keys and values.
        protected override PrefixKvSettings Saved(PrefixKvSettings settings) => settings with { ProjectionHidden = null };

        // Files record the convention beside the settings; one without it predates it: content from 0.
        protected override KvPositions? Positions(PrefixKvSettings settings) => settings.KvPositions;

        public override TuningSettings Read(string path, string json, KvPositions? positions) =>
            ((PrefixKvSettings)base.Read(path, json, positions)) with { KvPositions = positions ?? KvPositions.FromZero };

        // Runs cached before the content moved after the prefix keep their identity; later ones say so.
        protected override object Identity(object identity, PrefixKvSettings settings) =>
            settings.KvPositions == KvPositions.AfterPrefix ? new { identity, positions = KvPositions.AfterPrefix } : identity;
    }

    private sealed class KvPeft : IPeftMapping
    {
        public string PeftType => "PREFIX_TUNING";

        public bool Imports => true;

        public Dictionary<string, Tensor> Export(ITuningMethod method, ILanguageModel model, JsonObject config)
        {
            var prefix = (PrefixKv)method;
            PrefixLabException.Check(prefix.Settings.KvPositions == KvPositions.AfterPrefix,
                "this prefix-kv adapter was trained with the content at positions from 0, before PrefixLab followed Hugging Face; PEFT puts the content after the prefix, so it would mean something else there: retrain it (tune --method prefix-kv) to export it");
            PeftFormat.AddShape(config, model, prefix.Settings.PrefixSize);
            // PEFT's layout for grouped-query attention: the key/value heads and their width.
            int kvWidth = model.Shape.KeyValueHeads * model.Shape.HeadDim;
            config["token_dim"] = kvWidth;
            config["num_attention_heads"] = model.Shape.KeyValueHeads;
            config["encoder_hidden_size"] = kvWidth;
            config["prefix_projection"] = false;
            // [layer, kv, head, P, d] → [P, layer, kv, head, d] → [P, layer · 2 · width]
            return new() { [PeftFormat.PromptEmbeddings] = prefix.KeysValues().permute(3, 0, 1, 2, 4).reshape(prefix.Settings.PrefixSize, -1).contiguous() };
        }

        public (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, ILanguageModel model, string directory)
        {
            var c = model.Shape;
            int size = PeftFormat.Get<int>(config, "num_virtual_tokens", directory);
            var (width, layers, heads) = (PeftFormat.Get<int>(config, "token_dim", directory), PeftFormat.Get<int>(config, "num_layers", directory), PeftFormat.Get<int>(config, "num_attention_heads", directory));
            int kvWidth = c.KeyValueHeads * c.HeadDim;
            PrefixLabException.Check(width == kvWidth && layers == c.Layers && heads == c.KeyValueHeads,
                $"'{directory}' is a prefix for {layers} layers × {heads} heads × width {width}; the model has {c.Layers} × {c.KeyValueHeads} key/value heads × width {kvWidth}");
            PrefixLabException.Check(PeftFormat.Get(config, "num_transformer_submodules", directory, 1) == 1, $"'{directory}': encoder-decoder prefixes are not supported");
            string name = PeftFormat.PromptEmbeddings;
            PrefixLabException.Check(tensors.TryGetValue(name, out var embeddings), $"'{directory}' has no tensor '{name}'");
            PrefixLabException.Check(tensors.Count == 1, $"'{directory}': a prefix adapter holds only '{name}', not '{tensors.Keys.FirstOrDefault(k => k != name)}'");
            long[] expected = [size, layers * 2L * width];
            PrefixLabException.Check(embeddings!.shape.SequenceEqual(expected),
                $"'{directory}': {name} has shape [{string.Join(", ", embeddings.shape)}], expected [{string.Join(", ", expected)}]");
            var keysValues = embeddings.view(size, layers, 2, heads, width / heads).permute(1, 2, 3, 0, 4);
            return (new PrefixKvSettings { PrefixSize = size }, new() { ["prefix.keys_values"] = keysValues });
        }
    }
}
