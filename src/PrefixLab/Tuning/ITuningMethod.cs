using System.Text.Json.Serialization;
using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>Where a key/value prefix (prefix-kv) leaves the content on the position embedding.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<KvPositions>))]
public enum KvPositions
{
    /// <summary>
    /// The prefix takes positions 0 … P−1 and the content follows at P …, as Hugging Face models place
    /// tokens after <c>past_key_values</c> and as PEFT and Li and Liang's code do.
    /// </summary>
    AfterPrefix,

    /// <summary>
    /// The content starts at position 0, the prefix has no position: what PrefixLab did before it
    /// followed Hugging Face. Adapter files from then are loaded this way, so they keep their meaning.
    /// </summary>
    FromZero,
}

/// <summary>
/// Settings of a tuning method. One record serves every method; each reads the fields it needs, and
/// the whole record is stored in an adapter file's metadata.
/// </summary>
public sealed record TuningSettings
{
    /// <summary>Virtual tokens or prefix vectors (hard prompt, soft prompt, prefix, prefix-kv).</summary>
    public int PrefixSize { get; init; } = 1;

    /// <summary>LoRA rank r.</summary>
    public int Rank { get; init; } = 1;

    /// <summary>LoRA alpha; the update is scaled by alpha / r. Null means alpha = r (scale 1).</summary>
    public double? Alpha { get; init; }

    /// <summary>LoRA targets: a Linear layer is adapted when its name contains one of these.</summary>
    public IReadOnlyList<string> Targets { get; init; } = ["c_fc", "c_proj"];

    /// <summary>The hard prompt's tokens, one per prefix position.</summary>
    public IReadOnlyList<int>? Tokens { get; init; }

    /// <summary>
    /// Prefix-kv only: train the keys and values through an MLP with this hidden width (Li and Liang's
    /// reparameterisation, PEFT's <c>prefix_projection</c>); null trains them directly.
    /// </summary>
    public int? ProjectionHidden { get; init; }

    /// <summary>Standard deviation of the initial soft prompt and prefix vectors (the paper: N(0, 1)).</summary>
    public double InitStd { get; init; } = 1.0;

    /// <summary>
    /// LoRA: ranks that differ from <see cref="Rank"/> for some layers, as PEFT's <c>rank_pattern</c>: a
    /// layer takes the value of the first key (a regular expression) that matches the end of its name at a
    /// dot boundary. Left out of the JSON when null, so other settings' fingerprints stay as they were.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, int>? RankPattern { get; init; }

    /// <summary>LoRA: alphas that differ from <see cref="Alpha"/> for some layers, as PEFT's <c>alpha_pattern</c> (matched as <see cref="RankPattern"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, double>? AlphaPattern { get; init; }

    /// <summary>
    /// Prefix-kv: where the content sits on the position embedding. Not part of the settings' JSON: an
    /// adapter file records it in <see cref="AdapterInfo.Positions"/>, and files without that field are
    /// read as <see cref="KvPositions.FromZero"/>.
    /// </summary>
    [JsonIgnore]
    public KvPositions KvPositions { get; init; }

    /// <summary>
    /// Throws <see cref="PrefixLabException"/> unless these settings, read from a file, can describe an
    /// adapter of a model of <paramref name="config"/>. The bounds (docs/reliability.md) keep what a
    /// method allocates when it attaches within a small multiple of the model's own weights: a prefix
    /// no longer than the block size, a rank no larger than the model's larger width.
    /// </summary>
    public TuningSettings ValidateFor(GptConfig config)
    {
        int maxRank = Math.Max(config.Width, config.MlpWidth);
        PrefixLabException.Check(PrefixSize >= 0 && PrefixSize <= config.BlockSize, $"prefix size must be between 0 and the model's block size {config.BlockSize} (got {PrefixSize})");
        PrefixLabException.Check(Rank >= 1 && Rank <= maxRank, $"LoRA rank must be between 1 and {maxRank}, the model's larger width (got {Rank})");
        PrefixLabException.Check(RankPattern is null || RankPattern.Values.All(r => r >= 1 && r <= maxRank), $"LoRA rank_pattern ranks must be between 1 and {maxRank}, the model's larger width");
        PrefixLabException.Check(AlphaPattern is null || AlphaPattern.Values.All(double.IsFinite), "LoRA alpha_pattern values must be finite numbers");
        PrefixLabException.Check(Alpha is null || double.IsFinite(Alpha.Value), $"LoRA alpha must be a finite number (got {Alpha})");
        PrefixLabException.Check(Targets.Count > 0 && Targets.All(t => !string.IsNullOrEmpty(t)), "LoRA targets must be a non-empty list of names");
        PrefixLabException.Check(Tokens is null || Tokens.Count == PrefixSize, $"hard-prompt has {Tokens?.Count} tokens for {PrefixSize} prefix positions");
        PrefixLabException.Check(ProjectionHidden is null, "a saved prefix-kv adapter holds its keys and values without the projection (projection_hidden must be null)");
        PrefixLabException.Check(double.IsFinite(InitStd) && InitStd >= 0, $"init std must be a finite number at least 0 (got {InitStd})");
        return this;
    }
}

/// <summary>
/// A way to adapt a frozen model, as a PEFT tuner is: it attaches itself to the model when created
/// (through the model's hook points, or hooks on its Linear layers), owns its trainable tensors, and
/// detaches when disposed. Context methods and LoRA never change the base weights.
/// </summary>
public interface ITuningMethod : IDisposable
{
    /// <summary>The method's name, e.g. <c>prefix</c>.</summary>
    string Name { get; }

    /// <summary>The settings it was created with.</summary>
    TuningSettings Settings { get; }

    /// <summary>The tensors training updates.</summary>
    IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>Number of trainable values.</summary>
    long ParameterCount => Parameters.Sum(p => p.numel());

    /// <summary>
    /// The number of padding positions the method's vectors take the place of (prompts and the paper's
    /// prefix), which the inputs must then have; null when the method leaves the input layout alone.
    /// </summary>
    int? PaddingRows { get; }

    /// <summary>
    /// Positions the method takes in front of the sequence without being rows of it (a key/value prefix
    /// in Hugging Face's convention: P); the model's <see cref="Gpt.PositionShift"/> grows by it while the
    /// method is attached.
    /// </summary>
    int PositionShift { get; }

    /// <summary>
    /// The padding rows in front of each input when the method adapts a model pretrained with
    /// <paramref name="modelPadding"/> of them: the method's <see cref="PaddingRows"/> if it replaces rows;
    /// otherwise the model's, less those a key/value prefix already takes, so the content stays at the
    /// positions it was pretrained at when it can.
    /// </summary>
    int InputPadding(int modelPadding) => PaddingRows ?? Math.Max(0, modelPadding - PositionShift);

    /// <summary>Whether the base model trains too (and so runs in training mode, with dropout).</summary>
    bool TrainsBase { get; }

    /// <summary>The paper's learning rate for the method (paper.md §3).</summary>
    double DefaultLearningRate { get; }

    /// <summary>The AdamW weight decay the paper used for the method.</summary>
    double DefaultWeightDecay { get; }

    /// <summary>Parameter groups for AdamW with <paramref name="weightDecay"/>.</summary>
    IReadOnlyList<Training.ParameterGroup> Groups(double weightDecay);

    /// <summary>The tensors an adapter file holds, by name (reparameterised tensors folded into plain ones).</summary>
    IReadOnlyDictionary<string, Tensor> SaveTensors();

    /// <summary>Sets the method's tensors from a file's.</summary>
    void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors);

    /// <summary>
    /// Called before the model's weights change floating-point type: a method whose hooks could not take
    /// part in another type folds itself into the weights here (LoRA merges); by default nothing.
    /// </summary>
    void BeforeConversion()
    {
    }
}
