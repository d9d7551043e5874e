using System.Text.Json;
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
/// Settings of a tuning method: each method has its own record, derived from this one and declared in
/// the method's file (<see cref="MethodKind{TSettings}"/> knows which). Code outside a method's file
/// handles settings only as this base: serialised (a cache key, a fingerprint, an adapter file's
/// metadata), its fields are the method's own, whatever the declared type.
/// </summary>
[JsonConverter(typeof(TuningSettingsJson))]
public abstract record TuningSettings
{
    /// <summary>
    /// Throws <see cref="PrefixLabException"/> unless these settings, read from a file, can describe an
    /// adapter of a model of <paramref name="config"/>. The bounds (docs/reliability.md) keep what a
    /// method allocates when it attaches within a small multiple of the model's own weights.
    /// </summary>
    public abstract TuningSettings ValidateFor(ModelShape config);
}

/// <summary>
/// Writes settings declared as <see cref="TuningSettings"/> as their own type, so every field of the
/// method's record is in the JSON. Reading needs the method: <see cref="MethodKind.Read"/>.
/// </summary>
internal sealed class TuningSettingsJson : JsonConverter<TuningSettings>
{
    /// <inheritdoc />
    public override TuningSettings Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException("settings are read through their method's registration (MethodKind.Read)");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, TuningSettings value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value, value.GetType(), options);
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
    /// in Hugging Face's convention: P); the model's <see cref="ILanguageModel.PositionShift"/> grows by it while the
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
