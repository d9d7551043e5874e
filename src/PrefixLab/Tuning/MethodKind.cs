using System.Text.Json.Nodes;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>The type of a method's command-line knob.</summary>
public enum KnobType
{
    /// <summary>A whole number in [<see cref="Knob.Min"/>, <see cref="Knob.Max"/>].</summary>
    Int,

    /// <summary>A number above <see cref="Knob.Min"/> and at most <see cref="Knob.Max"/>.</summary>
    Number,

    /// <summary>Names separated by commas.</summary>
    Names,

    /// <summary>Token ids separated by spaces or commas.</summary>
    Tokens,
}

/// <summary>
/// One setting a method takes from the command line (or a spec), described neutrally so the command
/// line builds its options and usage from the registry: <c>--Name</c> of <see cref="Type"/> within
/// [<see cref="Min"/>, <see cref="Max"/>], written into the settings by <see cref="Apply"/>. Left out,
/// the setting keeps the record's default (or <see cref="DefaultFor"/>'s, when it depends on the model).
/// </summary>
/// <param name="Name">The option name without dashes, e.g. <c>rank</c>.</param>
/// <param name="Type">What the value is.</param>
/// <param name="Placeholder">The value's placeholder in the usage text, e.g. <c>r</c>.</param>
/// <param name="Help">What the option sets, for its help (the range and default are added from <see cref="Min"/>, <see cref="Max"/> and <see cref="Knob.Default"/>).</param>
/// <param name="Min">Smallest value (Int), or the bound a value must exceed (Number).</param>
/// <param name="Max">Largest value (Int, Number).</param>
/// <param name="Apply">Writes a value (int, double, string[] or int[]) into the settings.</param>
public sealed record Knob(string Name, KnobType Type, string Placeholder, string Help, double Min, double Max, Func<TuningSettings, object, TuningSettings> Apply)
{
    /// <summary>
    /// The value when the option is left out, from the model's padding positions and the settings read
    /// so far; null keeps the settings' own default.
    /// </summary>
    public Func<int, TuningSettings, object?>? DefaultFor { get; init; }

    /// <summary>What the setting is when the option is left out, in words for the help (e.g. <c>1</c>, <c>the model's padding positions</c>).</summary>
    public string? Default { get; init; }

    /// <summary>
    /// Checks the settings against the model once every knob is read: the model, the settings, how an
    /// error names the option (e.g. <c>--rank</c>) and whether it was given; throws
    /// <see cref="PrefixLabException"/>.
    /// </summary>
    public Action<Gpt, TuningSettings, string, bool>? Check { get; init; }
}

/// <summary>The setting <c>params --match</c> varies to match a parameter count: a method's size.</summary>
/// <param name="Knob">The knob's name, as <c>--match METHOD:knob=N</c> spells it.</param>
/// <param name="Label">How a result names it, e.g. <c>prefix size</c>.</param>
/// <param name="With">The settings with this size.</param>
/// <param name="Of">The size the settings give.</param>
public sealed record SizeKnob(string Knob, string Label, Func<TuningSettings, int, TuningSettings> With, Func<TuningSettings, int> Of);

/// <summary>
/// How a method maps to one of Hugging Face PEFT's adapter types (<c>adapter_config.json</c> and the
/// tensors of <c>adapter_model.safetensors</c>), both ways.
/// </summary>
public interface IPeftMapping
{
    /// <summary>PEFT's <c>peft_type</c>, e.g. <c>LORA</c>.</summary>
    string PeftType { get; }

    /// <summary>Whether a PEFT adapter of <see cref="PeftType"/> loads as this method (several methods may export to one type).</summary>
    bool Imports { get; }

    /// <summary>
    /// Adds the method's fields to <paramref name="config"/> (which holds the common ones) and returns the
    /// tensors by PEFT's names. Throws <see cref="PrefixLabException"/> when this adapter has no PEFT meaning.
    /// </summary>
    Dictionary<string, Tensor> Export(ITuningMethod method, Gpt model, JsonObject config);

    /// <summary>
    /// The settings and the method's own tensors (by its names) that <paramref name="config"/> and
    /// <paramref name="tensors"/> of the PEFT adapter in <paramref name="directory"/> describe.
    /// </summary>
    (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, Gpt model, string directory);
}

/// <summary>
/// Everything PrefixLab knows about one tuning method, registered once in <see cref="TuningMethods"/>:
/// its name, what kind of method it is, its knobs, its PEFT mapping and how it attaches. Code outside
/// the method's own file asks the registry rather than naming a method.
/// </summary>
public abstract class MethodKind
{
    /// <summary>The method's name, e.g. <c>prefix</c>.</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Whether the method acts through the context (virtual tokens or a prefix in front of the content)
    /// rather than on the model's weights or activations: the paper's subject, whose identities and
    /// spread the experiments measure.
    /// </summary>
    public virtual bool IsContext => false;

    /// <summary>Whether the method trains the whole model and saves a model file rather than an adapter.</summary>
    public virtual bool SavesModel => false;

    /// <summary>The size <c>params --match</c> varies; null when the method has none.</summary>
    public virtual SizeKnob? Size => null;

    /// <summary>The method's command-line knobs (a knob several methods share is listed by each).</summary>
    public virtual IReadOnlyList<Knob> Knobs => [];

    /// <summary>The method's PEFT counterpart; null when PEFT has none.</summary>
    public virtual IPeftMapping? Peft => null;

    /// <summary>
    /// Attaches the method to <paramref name="model"/>, its initial tensors drawn from
    /// <paramref name="generator"/> (never torch's global generator).
    /// </summary>
    public abstract ITuningMethod Attach(Gpt model, TuningSettings settings, Generator generator);

    /// <summary>The settings an adapter file holds for <paramref name="settings"/> (reparameterisations folded).</summary>
    public virtual TuningSettings Saved(TuningSettings settings) => settings;

    /// <summary>
    /// <paramref name="identity"/> (what names a run in a cache key or a training fingerprint) with any
    /// revision of the method's meaning made after runs were first cached; by default unchanged.
    /// </summary>
    public virtual object Identity(object identity, TuningSettings settings) => identity;
}
