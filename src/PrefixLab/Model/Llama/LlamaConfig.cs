using System.Text.Json.Serialization;

namespace PrefixLab.Model;

/// <summary>
/// How the rotary frequencies are stretched for contexts longer than the model was trained on
/// (Hugging Face's <c>rope_scaling</c>). <c>linear</c> divides every frequency by
/// <paramref name="Factor"/>; <c>llama3</c> (Llama 3.1) divides only the low frequencies, keeps the high
/// ones and blends the band between them.
/// </summary>
/// <param name="Type"><c>linear</c> or <c>llama3</c>.</param>
/// <param name="Factor">How much longer the context is.</param>
/// <param name="LowFreqFactor">llama3: wavelengths above original/low are divided by the factor.</param>
/// <param name="HighFreqFactor">llama3: wavelengths below original/high are kept.</param>
/// <param name="OriginalPositions">llama3: the context length the model was trained with.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalPositions = 8192)
{
    /// <summary>The scaling types PrefixLab computes.</summary>
    public static readonly IReadOnlyList<string> Types = ["linear", "llama3"];
}

/// <summary>
/// Architecture of a Llama-family decoder (Llama, Mistral, Qwen2 as Hugging Face configures them):
/// token embedding, blocks of RMSNorm, grouped-query attention with rotary positions and a SwiGLU MLP,
/// a final RMSNorm and an LM head.
/// </summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="Positions">Longest sequence (<c>max_position_embeddings</c>).</param>
/// <param name="Layers">Number of blocks.</param>
/// <param name="Heads">Query heads per block.</param>
/// <param name="KeyValueHeads">Key and value heads per block; each serves Heads / KeyValueHeads query heads.</param>
/// <param name="Width">Width of the residual stream (<c>hidden_size</c>).</param>
/// <param name="MlpWidth">Inner width of the MLP (<c>intermediate_size</c>).</param>
/// <param name="HeadDimension">Dimensions per head when the config gives them (<c>head_dim</c>); null means Width / Heads.</param>
/// <param name="RmsNormEps">The ε under the RMSNorm's square root.</param>
/// <param name="RopeTheta">Base of the rotary frequencies.</param>
/// <param name="Scaling">The rotary scaling, or null for none.</param>
/// <param name="QkvBias">Whether q_proj, k_proj and v_proj have biases (Qwen2; Llama's <c>attention_bias</c>).</param>
/// <param name="OutputBias">Whether o_proj has a bias (Llama's <c>attention_bias</c>).</param>
/// <param name="TiedHead">Whether the LM head is the token embedding.</param>
/// <param name="SlidingWindow">Mistral's attention window; longer sequences are refused, not computed.</param>
/// <param name="AttentionDropout">Dropout on the attention probabilities in training.</param>
/// <param name="ModelType">Hugging Face's <c>model_type</c>: llama, mistral or qwen2.</param>
public sealed record LlamaConfig(
    int VocabSize,
    int Positions,
    int Layers,
    int Heads,
    int KeyValueHeads,
    int Width,
    int MlpWidth,
    int? HeadDimension = null,
    double RmsNormEps = 1e-6,
    double RopeTheta = 10000,
    RopeScaling? Scaling = null,
    bool QkvBias = false,
    bool OutputBias = false,
    bool TiedHead = false,
    int? SlidingWindow = null,
    double AttentionDropout = 0,
    string ModelType = "llama") : IModelConfig
{
    /// <inheritdoc />
    [JsonIgnore]
    public ModelShape Shape => new(Layers, Heads, KeyValueHeads, HeadDim, Width, VocabSize, Positions, MlpWidth);

    /// <inheritdoc />
    public ILanguageModel Create(long seed) => new Llama(this, seed);

    /// <summary>The <c>model_type</c> values this family covers.</summary>
    public static readonly IReadOnlyList<string> ModelTypes = ["llama", "mistral", "qwen2"];

    /// <summary>Dimensions per head.</summary>
    [JsonIgnore]
    public int HeadDim => HeadDimension ?? Width / Heads;

    /// <summary>Throws <see cref="PrefixLabException"/> when the configuration cannot build a model.</summary>
    public LlamaConfig Validate()
    {
        PrefixLabException.Check(ModelTypes.Contains(ModelType), $"model_type must be {string.Join(", ", ModelTypes)} (got '{ModelType}')");
        PrefixLabException.Check(VocabSize is >= 1 and <= GptConfig.MaxVocabSize, $"vocab size must be between 1 and {GptConfig.MaxVocabSize} (got {VocabSize})");
        PrefixLabException.Check(Positions is >= 1 and <= 1 << 24, $"max_position_embeddings must be between 1 and {1 << 24} (got {Positions})");
        PrefixLabException.Check(Layers is >= 1 and <= GptConfig.MaxLayers, $"layers must be between 1 and {GptConfig.MaxLayers} (got {Layers})");
        PrefixLabException.Check(Width is >= 1 and <= GptConfig.MaxWidth, $"width must be between 1 and {GptConfig.MaxWidth} (got {Width})");
        PrefixLabException.Check(Heads is >= 1 and <= 4096, $"heads must be between 1 and 4096 (got {Heads})");
        PrefixLabException.Check(KeyValueHeads >= 1 && KeyValueHeads <= Heads && Heads % KeyValueHeads == 0,
            $"num_key_value_heads must divide the {Heads} query heads (got {KeyValueHeads})");
        PrefixLabException.Check(HeadDimension is not null || Width % Heads == 0, $"heads must divide the width {Width} when head_dim is not given (got {Heads})");
        PrefixLabException.Check(HeadDim is >= 2 and <= 4096 && HeadDim % 2 == 0, $"head_dim must be even, between 2 and 4096 (got {HeadDim})");
        PrefixLabException.Check(MlpWidth is >= 1 and <= 16 * GptConfig.MaxWidth, $"intermediate_size must be between 1 and {16 * GptConfig.MaxWidth} (got {MlpWidth})");
        PrefixLabException.Check(double.IsFinite(RmsNormEps) && RmsNormEps > 0, $"rms_norm_eps must be a positive number (got {RmsNormEps})");
        PrefixLabException.Check(double.IsFinite(RopeTheta) && RopeTheta > 1, $"rope_theta must be a number above 1 (got {RopeTheta})");
        PrefixLabException.Check(SlidingWindow is null or >= 1, $"sliding_window must be at least 1 (got {SlidingWindow})");
        PrefixLabException.Check(AttentionDropout is >= 0 and < 1, $"attention_dropout must be in [0, 1) (got {AttentionDropout})");
        if (Scaling is { } s)
        {
            PrefixLabException.Check(RopeScaling.Types.Contains(s.Type), $"rope_scaling type '{s.Type}' is not supported (PrefixLab computes {string.Join(" and ", RopeScaling.Types)})");
            PrefixLabException.Check(double.IsFinite(s.Factor) && s.Factor >= 1, $"rope_scaling factor must be at least 1 (got {s.Factor})");
            PrefixLabException.Check(s.Type != "llama3" || (s.LowFreqFactor > 0 && s.HighFreqFactor > s.LowFreqFactor && s.OriginalPositions >= 1),
                $"llama3 rope_scaling needs 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings ≥ 1 (got {s.LowFreqFactor}, {s.HighFreqFactor}, {s.OriginalPositions})");
        }
        return this;
    }

    /// <summary>
    /// The name and shape of every weight a <see cref="Llama"/> of this configuration has, in Hugging
    /// Face's key layout, worked out without building it, so that a checkpoint's tensors can be checked
    /// before a single weight is allocated.
    /// </summary>
    public IReadOnlyDictionary<string, long[]> ParameterShapes()
    {
        long e = Width, q = (long)Heads * HeadDim, kv = (long)KeyValueHeads * HeadDim, m = MlpWidth;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal) { ["model.embed_tokens.weight"] = [VocabSize, e] };
        void Linear(string name, long inputs, long outputs, bool bias)
        {
            shapes[name + ".weight"] = [outputs, inputs];
            if (bias)
            {
                shapes[name + ".bias"] = [outputs];
            }
        }
        for (int layer = 0; layer < Layers; layer++)
        {
            string block = $"model.layers.{layer}.";
            shapes[block + "input_layernorm.weight"] = [e];
            Linear(block + "self_attn.q_proj", e, q, QkvBias);
            Linear(block + "self_attn.k_proj", e, kv, QkvBias);
            Linear(block + "self_attn.v_proj", e, kv, QkvBias);
            Linear(block + "self_attn.o_proj", q, e, OutputBias);
            shapes[block + "post_attention_layernorm.weight"] = [e];
            Linear(block + "mlp.gate_proj", e, m, false);
            Linear(block + "mlp.up_proj", e, m, false);
            Linear(block + "mlp.down_proj", m, e, false);
        }
        shapes["model.norm.weight"] = [e];
        if (!TiedHead)
        {
            shapes["lm_head.weight"] = [VocabSize, e];
        }
        return shapes;
    }
}
