using PrefixLab.Util;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PrefixLab.Model;

/// <summary>
/// A Llama-family decoder (Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2): a token embedding, blocks of
/// RMSNorm, grouped-query attention with rotary positions and a SwiGLU MLP, a final RMSNorm and an LM
/// head, tied to the embedding or not. Parameter names are Hugging Face's
/// (<c>model.layers.0.self_attn.q_proj.weight</c>, …), so the state dict is a checkpoint's key layout;
/// hook points are named as TransformerLens names them (<see cref="HookPoints"/>). The weights live in
/// one compute type (float32, bfloat16, or float64 after <c>.to(Float64)</c>); RMSNorm and the
/// softmax of half-precision models run in float32, as in Hugging Face.
/// </summary>
public sealed class Llama : Module<Tensor, Tensor>, ILanguageModel
{
#pragma warning disable IDE1006 // Hugging Face's state-dict names
    private readonly LlamaModel model;
    private readonly Linear? lm_head; // null when tied to the token embedding
#pragma warning restore IDE1006
    private readonly HookedLinear? head;
    private readonly double[] frequencies;
    private readonly PositionShifts shifts;

    /// <summary>
    /// Builds a model with Hugging Face's initialisation, weights N(0, 0.02), biases 0, norms 1, in
    /// <paramref name="dtype"/> (float32 by default). The weights and the dropout masks come from
    /// <paramref name="seed"/> alone (a generator of the model's own).
    /// </summary>
    public Llama(LlamaConfig config, long seed, ScalarType dtype = ScalarType.Float32) : this(config, dtype, (ulong)seed)
    {
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Linear linear:
                    Normal(linear.weight, generator);
                    linear.bias?.zero_();
                    break;
                case LlamaEmbedding embedding:
                    Normal(embedding.Weight, generator);
                    break;
                case RmsNorm norm:
                    norm.Reset();
                    break;
            }
        }
    }

    private Llama(LlamaConfig config, ScalarType dtype, ulong seed) : base("llama")
    {
        NativeMemory.Configure();
        Config = config.Validate();
        shifts = new PositionShifts(config.Positions, $"{config.Positions} positions");
        PrefixLabException.Check(dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float64 or ScalarType.Float16,
            $"a Llama model computes in float32, bfloat16, float16 or float64, not {dtype}");
        Dropout = new DropoutStream(Rng.Mix(seed, 0xD50));
        model = new LlamaModel(config, dtype, Dropout);
        lm_head = config.TiedHead ? null : LlamaLinear.Create(config.Width, config.VocabSize, false, dtype);
        head = lm_head is null ? null : new HookedLinear(lm_head, "lm_head.hook_out", LlamaLinear.Products);
        frequencies = Rotary.Frequencies(config);
        RegisterComponents();
        Hooks = new HookPoints(this);
        Shape = config.Shape;
        Family = LlamaFamily.For(config);
    }

    /// <summary>
    /// A model whose weights are allocated in <paramref name="dtype"/> but not initialised, for loaders
    /// that overwrite every weight: no random draws, no float32 copy of a bfloat16 model.
    /// </summary>
    internal static Llama ForLoading(LlamaConfig config, ScalarType dtype) => new(config, dtype, 0);

    /// <summary>The architecture.</summary>
    public LlamaConfig Config { get; }

    /// <inheritdoc />
    IModelConfig ILanguageModel.Config => Config;

    /// <inheritdoc />
    public ModelShape Shape { get; }

    /// <inheritdoc />
    public ModelFamily Family { get; }

    /// <inheritdoc />
    Module ILanguageModel.Module => this;

    /// <inheritdoc />
    public DropoutStream Dropout { get; }

    /// <inheritdoc />
    public HookPoints Hooks { get; }

    /// <summary>The element type the weights (and so the activations) are in.</summary>
    public ScalarType ComputeType => model.Embedding.Weight.dtype;

    /// <summary>
    /// The rotary position of sequence row 0: 0 unless something occupies positions in front of the
    /// sequence without being rows of it. With a key/value prefix of P, the tokens sit at positions
    /// P … P+T−1, as Hugging Face's <c>past_key_values</c> put them. Hooks still see sequence rows.
    /// </summary>
    public int PositionShift => shifts.Current;

    /// <inheritdoc />
    public int SequenceCapacity => shifts.Capacity;

    /// <inheritdoc />
    public IDisposable ShiftPositions(int positions) => shifts.Add(positions);

    /// <summary>Logits <c>[batch, position, vocab]</c> for token ids <c>[batch, position]</c>.</summary>
    public override Tensor forward(Tensor tokens) => Forward(tokens);

    /// <inheritdoc />
    public Tensor Forward(Tensor tokens, KvCache? cache = null) => Head(Hidden(tokens, cache));

    /// <inheritdoc />
    public Tensor Hidden(Tensor tokens, KvCache? cache = null, int? lastRows = null)
    {
        int position = cache?.Length ?? 0;
        shifts.CheckRun(tokens, position, lastRows);
        long length = tokens.shape[1];
        PrefixLabException.Check(Config.SlidingWindow is not int window || PositionShift + position + length <= window,
            $"sequence of {PositionShift + position + length} positions exceeds the model's sliding window of {Config.SlidingWindow}: PrefixLab computes only sequences within the window");
        var x = model.Embed(tokens, position);
        var rotation = Rotary.Angles(frequencies, PositionShift + position, length, x.dtype);
        using (rotation.Cos)
        using (rotation.Sin)
        {
            for (int layer = 0; layer < Config.Layers; layer++)
            {
                int queryFrom = layer == Config.Layers - 1 && lastRows is int rows ? (int)length - rows : 0;
                x = model.Blocks[layer].Forward(x, cache, position, rotation, queryFrom);
            }
        }
        if (cache is not null)
        {
            cache.Length += (int)length;
        }
        return x;
    }

    /// <summary>
    /// The token embedding rows of <paramref name="tokens"/>, which is all the first block receives: the
    /// positions enter inside attention, so <paramref name="position"/> changes nothing. The forward
    /// pass's <c>hook_embed</c> does not run here.
    /// </summary>
    public Tensor Embed(Tensor tokens, int position = 0) => model.Embedding.forward(tokens);

    /// <inheritdoc />
    public Tensor TokenEmbedding => model.Embedding.Weight;

    /// <summary>Null: rotary positions have no embedding table.</summary>
    public Tensor? PositionEmbedding => null;

    /// <inheritdoc />
    /// <remarks>
    /// A Llama model computes in the type it was loaded in (<c>--dtype bf16</c> holds the weights in
    /// bfloat16), so float32 changes nothing and mixed precision over float32 weights is refused.
    /// </remarks>
    public IDisposable ComputeIn(Precision precision)
    {
        PrefixLabException.Check(precision == Precision.F32, "precision bf16 (bfloat16 products over float32 weights) is for GPT-family models; load a Llama-family model with --dtype bf16 instead");
        return LlamaLinear.Products.Use(Precision.F32);
    }

    /// <inheritdoc />
    public Tensor Head(Tensor hidden) => head is HookedLinear linear
        ? linear.Forward(model.FinalNorm(hidden), position: -1)
        : functional.linear(model.FinalNorm(hidden), model.Embedding.Weight);

    /// <summary>
    /// The AdamW groups: the weights of Linear layers get weight decay; embeddings, norms and biases do not.
    /// </summary>
    public (IReadOnlyList<Parameter> Decay, IReadOnlyList<Parameter> NoDecay) ParameterGroups() => WeightDecayGroups.Of(this);

    private static void Normal(Tensor tensor, Generator generator)
    {
        using var draw = randn(tensor.shape, generator: generator);
        tensor.copy_(draw.mul_(0.02));
    }

    /// <summary>Hugging Face's <c>model</c> container, so parameter names carry its prefix.</summary>
    private sealed class LlamaModel : Module
    {
#pragma warning disable IDE1006 // Hugging Face's state-dict names and TransformerLens' hook names
        private readonly LlamaEmbedding embed_tokens;
        private readonly ModuleList<LlamaBlock> layers;
        private readonly RmsNorm norm;
        private readonly HookPoint hook_embed;
#pragma warning restore IDE1006
        // The final norm's output point, registered as the norm's child (in a tuple, so that this module
        // does not register it a second time as a field of its own).
        private readonly (HookPoint Point, int Unused) normalized;

        public LlamaModel(LlamaConfig config, ScalarType dtype, DropoutStream dropout) : base("model")
        {
            embed_tokens = new LlamaEmbedding(config.VocabSize, config.Width, dtype);
            layers = new ModuleList<LlamaBlock>([.. Enumerable.Range(0, config.Layers).Select(layer => new LlamaBlock(config, dtype, dropout, layer))]);
            norm = new RmsNorm(config.Width, config.RmsNormEps, dtype);
            hook_embed = new HookPoint(HookPoints.Embed);
            normalized = (new HookPoint(HookPoints.FinalNormalized), 0);
            norm.register_module("hook_normalized", normalized.Point);
            RegisterComponents();
        }

        public ModuleList<LlamaBlock> Blocks => layers;

        public LlamaEmbedding Embedding => embed_tokens;

        /// <summary>The embedding rows of tokens starting at sequence row <paramref name="row"/>, through <c>hook_embed</c>.</summary>
        public Tensor Embed(Tensor tokens, int row) => hook_embed.Run(embed_tokens.forward(tokens), row);

        public Tensor FinalNorm(Tensor x) => normalized.Point.Run(norm.forward(x), -1);
    }
}
