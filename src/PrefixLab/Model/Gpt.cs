using PrefixLab.Util;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// The paper's transformer, as minGPT builds it: learned token and position embeddings, pre-LayerNorm
/// blocks of causal self-attention and a GELU MLP, a final LayerNorm and a bias-free LM head. Parameter
/// names are minGPT's (<c>transformer.h.0.attn.c_attn.weight</c>, …). Every block exposes the named
/// hook points of <see cref="HookPoints"/>.
/// </summary>
public sealed class Gpt : Module<Tensor, Tensor>
{
    private readonly Transformer transformer;
#pragma warning disable IDE1006 // minGPT's state-dict name
    private readonly Linear? lm_head; // null when tied to the token embedding (GPT-2)
#pragma warning restore IDE1006

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
        using var generator = new Generator(seed is long s ? (ulong)s : (ulong)randint(long.MaxValue, [1], dtype: ScalarType.Int64).item<long>());
        Dropout = new DropoutStream(Rng.Mix((ulong)generator.initial_seed(), 0xD50));
        transformer = new Transformer(config, Dropout);
        lm_head = config.TiedHead ? null : Linear(config.Width, config.VocabSize, hasBias: false);
        RegisterComponents();
        Hooks = new HookPoints(Enumerable.Range(0, config.Layers).SelectMany(HookPoints.BlockNames));
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

    /// <summary>Where the dropout masks come from; the trainer reseeds it every step.</summary>
    public DropoutStream Dropout { get; }

    /// <summary>Named points of the forward pass where hooks read or replace activations.</summary>
    public HookPoints Hooks { get; }

    /// <summary>
    /// The position (index into the position embedding) of sequence row 0: 0 unless something occupies
    /// positions in front of the sequence without being rows of it. A key/value prefix does, as Hugging
    /// Face's <c>past_key_values</c> do: with P of them, GPT-2 puts the tokens at positions P … P+T−1.
    /// Hooks still see sequence rows (<see cref="HookContext.Position"/>); only the embedding moves.
    /// </summary>
    public int PositionShift { get; private set; }

    /// <summary>How many sequence rows fit: the block size less <see cref="PositionShift"/>.</summary>
    public int SequenceCapacity => Config.BlockSize - PositionShift;

    /// <summary>
    /// Moves the sequence <paramref name="positions"/> further along the position embedding until the
    /// result is disposed (shifts add up). A key/value prefix holds one while attached; a run without the
    /// prefix takes the same shift to line its content up with the prefixed run's.
    /// </summary>
    public IDisposable ShiftPositions(int positions)
    {
        PrefixLabException.Check(positions >= 0 && PositionShift + positions < Config.BlockSize,
            $"a position shift of {positions} leaves no room in the model's {Config.BlockSize} positions (already shifted by {PositionShift})");
        PositionShift += positions;
        return new Shift(this, positions);
    }

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
        if (tokens.dim() != 2)
        {
            throw new PrefixLabException($"tokens must be [batch, position], got shape [{string.Join(", ", tokens.shape)}]");
        }
        int position = cache?.Length ?? 0;
        long length = tokens.shape[1];
        if (position + length > SequenceCapacity)
        {
            string after = PositionShift > 0 ? $" after {PositionShift} prefix positions" : "";
            throw new PrefixLabException($"sequence of {position + length} positions{after} exceeds the model's block size {Config.BlockSize}");
        }
        if (lastRows is < 1 || lastRows > length)
        {
            throw new PrefixLabException($"lastRows must be between 1 and {length} (got {lastRows})");
        }
        var x = transformer.Embed(tokens, PositionShift + position);
        for (int layer = 0; layer < Config.Layers; layer++)
        {
            int queryFrom = layer == Config.Layers - 1 && lastRows is int rows ? (int)length - rows : 0;
            x = transformer.Blocks[layer].Forward(x, layer, Hooks, cache, position, queryFrom);
        }
        if (cache is not null)
        {
            cache.Length += (int)length;
        }
        return x;
    }

    /// <summary>Token plus position embeddings (with embedding dropout in training mode) of tokens starting at embedding position <paramref name="position"/>.</summary>
    public Tensor Embed(Tensor tokens, int position = 0) => transformer.Embed(tokens, position);

    /// <summary>The token embedding, <c>[vocabulary, width]</c>.</summary>
    public Tensor TokenEmbedding => transformer.TokenEmbedding;

    /// <summary>The learned position embedding, <c>[block size, width]</c> (row i is added at position i).</summary>
    public Tensor PositionEmbedding => transformer.PositionEmbedding;

    /// <summary>Logits from final residual rows (any leading shape): the last LayerNorm, then the LM head.</summary>
    public Tensor Head(Tensor hidden) => lm_head is null
        ? functional.linear(transformer.FinalNorm(hidden), transformer.TokenEmbedding)
        : lm_head.call(transformer.FinalNorm(hidden));

    /// <summary>
    /// The two AdamW groups of minGPT: the weights of Linear layers, which get weight decay, and all
    /// other parameters (biases, LayerNorm, embeddings), which do not.
    /// </summary>
    public (IReadOnlyList<Parameter> Decay, IReadOnlyList<Parameter> NoDecay) ParameterGroups()
    {
        var decay = new List<Parameter>();
        var noDecay = new List<Parameter>();
        var linearWeights = named_modules()
            .Where(m => m.module is Linear)
            .Select(m => m.name.Length == 0 ? "weight" : m.name + ".weight")
            .ToHashSet(StringComparer.Ordinal);
        foreach (var (name, parameter) in named_parameters())
        {
            (linearWeights.Contains(name) ? decay : noDecay).Add(parameter);
        }
        return (decay, noDecay);
    }

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

    private sealed class Shift(Gpt model, int positions) : IDisposable
    {
        private bool done;

        public void Dispose()
        {
            if (!done)
            {
                model.PositionShift -= positions;
                done = true;
            }
        }
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
#pragma warning restore IDE1006

        public Transformer(GptConfig config, DropoutStream dropout) : base("transformer")
        {
            wte = Embedding(config.VocabSize, config.Width);
            wpe = Embedding(config.BlockSize, config.Width);
            drop = new MaskDropout(config.Dropout, dropout);
            h = new ModuleList<Block>(Enumerable.Range(0, config.Layers).Select(_ => new Block(config, dropout)).ToArray());
            ln_f = config.LayerNorms ? LayerNorm(config.Width) : null;
            RegisterComponents();
        }

        public ModuleList<Block> Blocks => h;

        public Tensor TokenEmbedding => wte.weight!;

        public Tensor PositionEmbedding => wpe.weight!;

        public Tensor Embed(Tensor tokens, int position)
        {
            using var positions = arange(position, position + tokens.shape[1], dtype: ScalarType.Int64);
            return drop.forward(wte.forward(tokens).add_(wpe.forward(positions)));
        }

        public Tensor FinalNorm(Tensor x) => ln_f is null ? x : ln_f.forward(x);
    }
}

/// <summary>A pre-LayerNorm transformer block: <c>x + attn(ln_1(x))</c>, then <c>x + mlp(ln_2(x))</c>.</summary>
public sealed class Block : Module
{
#pragma warning disable IDE1006 // minGPT's state-dict names
    private readonly LayerNorm? ln_1;
    private readonly Attention attn;
    private readonly LayerNorm? ln_2;
    private readonly Mlp mlp;
#pragma warning restore IDE1006

    /// <summary>Creates a block; without <see cref="GptConfig.AttnLayerNorm"/> it has no <c>ln_1</c>, without <see cref="GptConfig.LayerNorms"/> no LayerNorm at all. Its dropout draws from <paramref name="dropout"/>.</summary>
    public Block(GptConfig config, DropoutStream dropout) : base("block")
    {
        ln_1 = config.AttnLayerNorm && config.LayerNorms ? LayerNorm(config.Width) : null;
        attn = new Attention(config, dropout);
        ln_2 = config.LayerNorms ? LayerNorm(config.Width) : null;
        mlp = new Mlp(config, dropout);
        RegisterComponents();
    }

    /// <summary>
    /// Runs the block on <paramref name="x"/>; with <paramref name="queryFrom"/> &gt; 0 only the rows from
    /// there on come out (the earlier rows still serve as keys and values).
    /// </summary>
    internal Tensor Forward(Tensor x, int layer, HookPoints hooks, KvCache? cache, int position, int queryFrom = 0)
    {
        x = hooks.Run(HookPoints.ResidPre(layer), x, layer, position);
        var attnIn = ln_1 is null ? x : ln_1.forward(x);
        var attnOut = attn.Forward(attnIn, layer, hooks, cache, position, queryFrom);
        if (queryFrom > 0)
        {
            x = x[TensorIndex.Colon, TensorIndex.Slice(queryFrom)];
            position += queryFrom;
        }
        attnOut = hooks.Run(HookPoints.AttnOut(layer), attnOut, layer, position);
        x = hooks.Run(HookPoints.ResidMid(layer), x + attnOut, layer, position);
        var mlpOut = hooks.Run(HookPoints.MlpOut(layer), mlp.Forward(ln_2 is null ? x : ln_2.forward(x), hooks, layer, position), layer, position);
        return hooks.Run(HookPoints.ResidPost(layer), x + mlpOut, layer, position);
    }
}
