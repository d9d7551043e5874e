using PrefixLab.Util;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// The paper's transformer, as minGPT builds it: learned token and position embeddings, pre-LayerNorm
/// blocks of causal self-attention and a GELU MLP, a final LayerNorm and a bias-free LM head. Parameter
/// names are minGPT's (<c>transformer.h.0.attn.c_attn.weight</c>, …); hook points are named as
/// TransformerLens names them (<see cref="HookPoints"/>). The paper's models and Hugging Face GPT-2 are
/// both this family.
/// </summary>
public sealed class Gpt : Module<Tensor, Tensor>, ILanguageModel
{
    private readonly Transformer transformer;
#pragma warning disable IDE1006 // minGPT's state-dict name
    private readonly Linear? lm_head; // null when tied to the token embedding (GPT-2)
#pragma warning restore IDE1006
    private readonly HookedLinear? head;
    private readonly Products products = new();
    private readonly PositionShifts shifts;

    /// <summary>
    /// Builds a model with minGPT's initialisation: weights N(0, 0.02), the residual output projections
    /// (<c>c_proj</c>) N(0, 0.02/√(2·layers)), biases 0, LayerNorms 1 and 0. The weights and the first
    /// dropout masks come from <paramref name="seed"/> alone (a generator of the model's own, so other
    /// threads drawing random numbers change nothing); without a seed, from torch's global generator.
    /// </summary>
    public Gpt(GptConfig config, long? seed = null) : this(config, seed, initialise: true)
    {
    }

    private Gpt(GptConfig config, long? seed, bool initialise) : base("gpt")
    {
        NativeMemory.Configure();
        Config = config.Validate();
        shifts = new PositionShifts(config.BlockSize, $"block size {config.BlockSize}");
        using var generator = new Generator(seed is long s ? (ulong)s : (ulong)randint(long.MaxValue, [1], dtype: ScalarType.Int64).item<long>());
        Dropout = new DropoutStream(Rng.Mix((ulong)generator.initial_seed(), 0xD50));
        transformer = new Transformer(config, Dropout, products);
        lm_head = config.TiedHead ? null : Linear(config.Width, config.VocabSize, hasBias: false);
        head = lm_head is null ? null : new HookedLinear(lm_head, "lm_head.hook_out", products);
        RegisterComponents();
        Hooks = new HookPoints(this);
        Shape = config.Shape;
        Family = GptFamily.For(config);
        if (initialise)
        {
            Initialise(generator);
        }
    }

    /// <summary>
    /// A model without minGPT's initialisation (its layers keep TorchSharp's defaults), for loaders that
    /// overwrite every weight: it skips the random draws, their time and their temporary buffers.
    /// </summary>
    internal static Gpt ForLoading(GptConfig config) => new(config, 0, initialise: false);

    /// <summary>The architecture.</summary>
    public GptConfig Config { get; }

    /// <inheritdoc />
    IModelConfig ILanguageModel.Config => Config;

    /// <inheritdoc />
    public ModelShape Shape { get; }

    /// <inheritdoc />
    public ModelFamily Family { get; }

    /// <inheritdoc />
    Module ILanguageModel.Module => this;

    /// <summary>Where the dropout masks come from; the trainer reseeds it every step.</summary>
    public DropoutStream Dropout { get; }

    /// <inheritdoc />
    public HookPoints Hooks { get; }

    /// <inheritdoc />
    public IDisposable ComputeIn(Precision precision) => products.Use(precision);

    /// <summary>
    /// The position (index into the position embedding) of sequence row 0: 0 unless something occupies
    /// positions in front of the sequence without being rows of it. A key/value prefix does, as Hugging
    /// Face's <c>past_key_values</c> do: with P of them, GPT-2 puts the tokens at positions P … P+T−1.
    /// Hooks still see sequence rows (<see cref="HookContext.Position"/>); only the embedding moves.
    /// </summary>
    public int PositionShift => shifts.Current;

    /// <summary>How many sequence rows fit: the block size less <see cref="PositionShift"/>.</summary>
    public int SequenceCapacity => shifts.Capacity;

    /// <summary>
    /// Moves the sequence <paramref name="positions"/> further along the position embedding until the
    /// result is disposed (shifts add up). A key/value prefix holds one while attached; a run without the
    /// prefix takes the same shift to line its content up with the prefixed run's.
    /// </summary>
    public IDisposable ShiftPositions(int positions) => shifts.Add(positions);

    /// <summary>Logits <c>[batch, position, vocab]</c> for token ids <c>[batch, position]</c>.</summary>
    public override Tensor forward(Tensor tokens) => Forward(tokens);

    /// <summary>
    /// Logits <c>[batch, position, vocab]</c> for token ids <c>[batch, position]</c>. With a
    /// <paramref name="cache"/>, <paramref name="tokens"/> continue the cached positions, and the cache
    /// grows by them.
    /// </summary>
    public Tensor Forward(Tensor tokens, KvCache? cache = null) => Head(Hidden(tokens, cache));

    /// <summary>
    /// The final residual stream <c>[batch, position, width]</c>, before the last LayerNorm. With
    /// <paramref name="lastRows"/>, only that many final positions come out, and the last block computes
    /// only those rows (their values are the same; training uses it to skip rows no loss reads).
    /// </summary>
    public Tensor Hidden(Tensor tokens, KvCache? cache = null, int? lastRows = null)
    {
        int position = cache?.Length ?? 0;
        shifts.CheckRun(tokens, position, lastRows);
        long length = tokens.shape[1];
        var x = transformer.Embed(tokens, PositionShift + position, row: position);
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            int queryFrom = layer == Config.Layers - 1 && lastRows is int rows ? (int)length - rows : 0;
            x = transformer.Blocks[layer].Forward(x, cache, position, queryFrom);
        }
        if (cache is not null)
        {
            cache.Length += (int)length;
        }
        return x;
    }

    /// <summary>
    /// Token plus position embeddings (with embedding dropout in training mode) of tokens starting at
    /// embedding position <paramref name="position"/>. The forward pass's <c>hook_embed</c> and
    /// <c>hook_pos_embed</c> do not run here: a method that calls this inside a hook (a hard prompt)
    /// should not look like a second forward pass to other hooks.
    /// </summary>
    public Tensor Embed(Tensor tokens, int position = 0) => transformer.Embed(tokens, position, row: null);

    /// <summary>The token embedding, <c>[vocabulary, width]</c>.</summary>
    public Tensor TokenEmbedding => transformer.TokenEmbedding;

    /// <summary>The learned position embedding, <c>[block size, width]</c> (row i is added at position i).</summary>
    public Tensor PositionEmbedding => transformer.PositionEmbedding;

    /// <summary>Logits from final residual rows (any leading shape): the last LayerNorm, then the LM head.</summary>
    public Tensor Head(Tensor hidden) => head is HookedLinear linear
        ? linear.Forward(transformer.FinalNorm(hidden), position: -1)
        : products.Linear(transformer.FinalNorm(hidden), transformer.TokenEmbedding);

    /// <summary>
    /// The two AdamW groups of minGPT: the weights of Linear layers, which get weight decay, and all
    /// other parameters (biases, LayerNorm, embeddings), which do not.
    /// </summary>
    public (IReadOnlyList<Parameter> Decay, IReadOnlyList<Parameter> NoDecay) ParameterGroups() => WeightDecayGroups.Of(this);

    private void Initialise(Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Linear linear:
                    Normal(linear.weight, 0.02, generator);
                    if (linear.bias is not null)
                    {
                        init.zeros_(linear.bias);
                    }
                    break;
                case Embedding embedding:
                    Normal(embedding.weight!, 0.02, generator);
                    break;
                case LayerNorm norm:
                    init.ones_(norm.weight);
                    init.zeros_(norm.bias);
                    break;
            }
        }
        // GPT-2's scaled init of the projections that write into the residual stream.
        foreach (var (name, parameter) in named_parameters().Where(p => p.name.EndsWith("c_proj.weight", StringComparison.Ordinal)))
        {
            Normal(parameter, 0.02 / Math.Sqrt(2.0 * Config.Layers), generator);
        }
    }

    /// <summary>
    /// Fills <paramref name="tensor"/> from N(0, std²) drawn with <paramref name="generator"/>. TorchSharp
    /// 0.107's <c>init.normal_</c> ignores its generator argument (two equal generators give different
    /// draws), so the draw goes through <c>randn</c>, which honours it.
    /// </summary>
    private static void Normal(Tensor tensor, double std, Generator generator)
    {
        using var draw = randn(tensor.shape, generator: generator);
        tensor.copy_(draw.mul_(std));
    }

    /// <summary>minGPT's <c>transformer</c> container, so parameter names carry its prefix.</summary>
    private sealed class Transformer : Module
    {
#pragma warning disable IDE1006 // minGPT's state-dict names
        private readonly Embedding wte;
        private readonly Embedding wpe;
        private readonly MaskDropout drop;
        private readonly ModuleList<Block> h;
        private readonly LayerNorm? ln_f;
        private readonly HookPoint hook_embed;
        private readonly HookPoint hook_pos_embed;
#pragma warning restore IDE1006
        // The final LayerNorm's output point, registered as ln_f's child (a tuple, so that this module
        // does not register it a second time as a field of its own).
        private readonly (LayerNorm Norm, HookPoint Normalized)? final;

        public Transformer(GptConfig config, DropoutStream dropout, Products products) : base("transformer")
        {
            wte = Embedding(config.VocabSize, config.Width);
            wpe = Embedding(config.BlockSize, config.Width);
            drop = new MaskDropout(config.Dropout, dropout);
            h = new ModuleList<Block>(Enumerable.Range(0, config.Layers).Select(layer => new Block(config, dropout, products, layer)).ToArray());
            ln_f = config.LayerNorms ? LayerNorm(config.Width) : null;
            hook_embed = new HookPoint(HookPoints.Embed);
            hook_pos_embed = new HookPoint(HookPoints.PosEmbed);
            if (ln_f is not null)
            {
                var normalized = new HookPoint(HookPoints.FinalNormalized);
                ln_f.register_module("hook_normalized", normalized);
                final = (ln_f, normalized);
            }
            RegisterComponents();
        }

        public ModuleList<Block> Blocks => h;

        public Tensor TokenEmbedding => wte.weight!;

        public Tensor PositionEmbedding => wpe.weight!;

        /// <summary>
        /// The embeddings of tokens at embedding positions from <paramref name="position"/> on; with a
        /// sequence <paramref name="row"/> (the forward pass), through <c>hook_embed</c> and <c>hook_pos_embed</c>.
        /// </summary>
        public Tensor Embed(Tensor tokens, int position, int? row)
        {
            using var positions = arange(position, position + tokens.shape[1], dtype: ScalarType.Int64);
            var tokenRows = wte.forward(tokens);
            var positionRows = wpe.forward(positions);
            if (row is not int r)
            {
                return drop.forward(tokenRows.add_(positionRows));
            }
            var hooked = hook_embed.Run(tokenRows, r);
            positionRows = hook_pos_embed.Run(positionRows, r);
            // In place only on the embedding's own output: a hook's replacement may be a tensor it keeps.
            return drop.forward(ReferenceEquals(hooked, tokenRows) ? tokenRows.add_(positionRows) : hooked + positionRows);
        }

        public Tensor FinalNorm(Tensor x) => final is (var norm, var normalized) ? normalized.Run(norm.forward(x), -1) : x;
    }
}
