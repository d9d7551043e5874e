using System.Text.Json.Serialization;

namespace PrefixLab.Model;

/// <summary>The MLP's non-linearity.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MlpActivation>))]
public enum MlpActivation
{
    /// <summary>Tanh-approximated GELU, minGPT's <c>NewGELU</c>.</summary>
    Gelu,

    /// <summary>ReLU, which the paper's hand-set constructions (Section 3) use.</summary>
    Relu,
}

/// <summary>
/// Architecture of a minGPT-style decoder-only transformer (paper.md §3). The fields after
/// <paramref name="AttnLayerNorm"/> exist for the hand-set constructions of paper Section 3; their
/// defaults are minGPT's, and what older files without them get.
/// </summary>
/// <param name="VocabSize">Number of token ids (digits 0..10 for the paper's tasks: 11).</param>
/// <param name="BlockSize">Largest sequence length the learned position embedding covers.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="Heads">Attention heads per block.</param>
/// <param name="Width">Embedding width E; each head has E / Heads dimensions.</param>
/// <param name="Dropout">Dropout on embeddings, attention weights and residual outputs (minGPT uses one value for all three).</param>
/// <param name="AttnLayerNorm">Whether a LayerNorm precedes attention (notebook 02 turns it off).</param>
/// <param name="LayerNorms">False removes every LayerNorm (before attention, before the MLP, final).</param>
/// <param name="Activation">The MLP's non-linearity.</param>
/// <param name="MlpHidden">Width of the MLP's hidden layers; null means 4E.</param>
/// <param name="MlpDepth">Hidden layers in the MLP: 1 is minGPT's <c>c_fc</c>, activation, <c>c_proj</c>.</param>
/// <param name="AttnScale">Factor on the attention scores; null means 1/√(head dimensions).</param>
/// <param name="TiedHead">
/// Whether the LM head reuses the token embedding matrix, as GPT-2 does, instead of a Linear of its
/// own (minGPT). Left out of the JSON when false, so configs and run fingerprints of untied models
/// stay as they were and older files read as untied.
/// </param>
public sealed record GptConfig(
    int VocabSize,
    int BlockSize,
    int Layers,
    int Heads,
    int Width,
    double Dropout = 0.1,
    bool AttnLayerNorm = true,
    bool LayerNorms = true,
    MlpActivation Activation = MlpActivation.Gelu,
    int? MlpHidden = null,
    int MlpDepth = 1,
    double? AttnScale = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    bool TiedHead = false) : IModelConfig
{
    /// <inheritdoc />
    [JsonIgnore]
    public ModelShape Shape => new(Layers, Heads, Heads, HeadDim, Width, VocabSize, BlockSize, MlpWidth);

    /// <inheritdoc />
    public ILanguageModel Create(long seed) => new Gpt(this, seed);

    /// <summary>Dimensions per head.</summary>
    [JsonIgnore]
    public int HeadDim => Width / Heads;

    /// <summary>Width of the MLP's hidden layers.</summary>
    [JsonIgnore]
    public int MlpWidth => MlpHidden ?? 4 * Width;

    /// <summary>Largest vocabulary: 2^24 ids.</summary>
    public const int MaxVocabSize = 1 << 24;

    /// <summary>Largest block size: 2^20 positions.</summary>
    public const int MaxBlockSize = 1 << 20;

    /// <summary>Largest number of blocks, and of MLP hidden layers.</summary>
    public const int MaxLayers = 4096;

    /// <summary>Largest width E, and the largest MLP hidden width is 16 E at most 2^20.</summary>
    public const int MaxWidth = 1 << 16;

    /// <summary>
    /// Throws <see cref="PrefixLabException"/> when the configuration cannot build a model. The ranges
    /// (docs/reliability.md lists them) keep every size PrefixLab derives from them (3E, 4E, layer
    /// counts) inside an int; whether a file's weights fit them is checked against its tensors
    /// (<see cref="ParameterShapes"/>) before any model is built.
    /// </summary>
    public GptConfig Validate()
    {
        PrefixLabException.Check(VocabSize is >= 1 and <= MaxVocabSize, $"vocab size must be between 1 and {MaxVocabSize} (got {VocabSize})");
        PrefixLabException.Check(BlockSize is >= 1 and <= MaxBlockSize, $"block size must be between 1 and {MaxBlockSize} (got {BlockSize})");
        PrefixLabException.Check(Layers is >= 1 and <= MaxLayers, $"layers must be between 1 and {MaxLayers} (got {Layers})");
        PrefixLabException.Check(Width is >= 1 and <= MaxWidth, $"width must be between 1 and {MaxWidth} (got {Width})");
        PrefixLabException.Check(Heads >= 1 && Heads <= Width && Width % Heads == 0, $"heads must divide the width {Width} (got {Heads})");
        PrefixLabException.Check(Dropout is >= 0 and < 1, $"dropout must be in [0, 1) (got {Dropout})");
        PrefixLabException.Check(Enum.IsDefined(Activation), $"activation must be {string.Join(" or ", Enum.GetNames<MlpActivation>())} (got {(int)Activation})");
        PrefixLabException.Check(MlpHidden is null or (>= 1 and <= 16 * MaxWidth), $"MLP hidden width must be between 1 and {16 * MaxWidth} (got {MlpHidden})");
        PrefixLabException.Check(MlpDepth is >= 1 and <= MaxLayers, $"MLP depth must be between 1 and {MaxLayers} (got {MlpDepth})");
        PrefixLabException.Check(AttnScale is null || (double.IsFinite(AttnScale.Value) && AttnScale.Value > 0), $"attention scale must be a positive finite number (got {AttnScale})");
        return this;
    }

    /// <summary>
    /// The name and shape of every weight a <see cref="Gpt"/> of this configuration has (its state
    /// dict), worked out without building it, so that a file's tensors can be checked against its
    /// declared architecture before a single weight is allocated.
    /// </summary>
    public IReadOnlyDictionary<string, long[]> ParameterShapes()
    {
        long v = VocabSize, e = Width, m = MlpWidth;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["transformer.wte.weight"] = [v, e],
            ["transformer.wpe.weight"] = [BlockSize, e],
        };
        void Linear(string name, long inputs, long outputs)
        {
            shapes[name + ".weight"] = [outputs, inputs];
            shapes[name + ".bias"] = [outputs];
        }
        void Norm(string name)
        {
            shapes[name + ".weight"] = [e];
            shapes[name + ".bias"] = [e];
        }
        for (int layer = 0; layer < Layers; layer++)
        {
            string block = $"transformer.h.{layer}.";
            if (AttnLayerNorm && LayerNorms)
            {
                Norm(block + "ln_1");
            }
            Linear(block + "attn.c_attn", e, 3 * e);
            Linear(block + "attn.c_proj", e, e);
            if (LayerNorms)
            {
                Norm(block + "ln_2");
            }
            Linear(block + "mlp.c_fc", e, m);
            for (int hidden = 0; hidden < MlpDepth - 1; hidden++)
            {
                Linear($"{block}mlp.c_mid.{hidden}", m, m);
            }
            Linear(block + "mlp.c_proj", m, e);
        }
        if (LayerNorms)
        {
            Norm("transformer.ln_f");
        }
        if (!TiedHead)
        {
            shapes["lm_head.weight"] = [v, e];
        }
        return shapes;
    }
}
