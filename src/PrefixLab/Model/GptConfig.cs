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
    bool TiedHead = false)
{
    /// <summary>Dimensions per head.</summary>
    [JsonIgnore]
    public int HeadDim => Width / Heads;

    /// <summary>Width of the MLP's hidden layers.</summary>
    [JsonIgnore]
    public int MlpWidth => MlpHidden ?? 4 * Width;

    /// <summary>Throws <see cref="PrefixLabException"/> when the configuration cannot build a model.</summary>
    public GptConfig Validate()
    {
        PrefixLabException.Check(VocabSize >= 1, $"vocab size must be at least 1 (got {VocabSize})");
        PrefixLabException.Check(BlockSize >= 1, $"block size must be at least 1 (got {BlockSize})");
        PrefixLabException.Check(Layers >= 1, $"layers must be at least 1 (got {Layers})");
        PrefixLabException.Check(Heads >= 1, $"heads must be at least 1 (got {Heads})");
        PrefixLabException.Check(Width >= 1 && Width % Heads == 0, $"width {Width} must be a positive multiple of heads {Heads}");
        PrefixLabException.Check(Dropout is >= 0 and < 1, $"dropout must be in [0, 1) (got {Dropout})");
        PrefixLabException.Check(MlpWidth >= 1, $"MLP hidden width must be at least 1 (got {MlpWidth})");
        PrefixLabException.Check(MlpDepth >= 1, $"MLP depth must be at least 1 (got {MlpDepth})");
        PrefixLabException.Check(AttnScale is null || double.IsFinite(AttnScale.Value), $"attention scale must be finite (got {AttnScale})");
        return this;
    }
}
