using System.Text.Json.Nodes;
using PrefixLab.Interop;
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
/// [<see cref="Min"/>, <see cref="Max"/>], written into the method's settings by <see cref="Apply"/>.
/// Left out, the setting keeps the settings' default (or <see cref="DefaultFor"/>'s, when it depends on
/// the model). A method declares its knobs as <see cref="Knob{TSettings}"/> of its own settings type.
/// </summary>
/// <param name="Name">The option name without dashes, e.g. <c>rank</c>.</param>
/// <param name="Type">What the value is.</param>
/// <param name="Placeholder">The value's placeholder in the usage text, e.g. <c>r</c>.</param>
/// <param name="Help">What the option sets, for its help (the range and default are added from <see cref="Min"/>, <see cref="Max"/> and <see cref="Knob.DefaultText"/>).</param>
/// <param name="Min">Smallest value (Int), or the bound a value must exceed (Number).</param>
/// <param name="Max">Largest value (Int, Number).</param>
public abstract record Knob(string Name, KnobType Type, string Placeholder, string Help, double Min, double Max)
{
    /// <summary>Writes a value (int, double, string[] or int[]) into <paramref name="settings"/>, which must be of the knob's settings type.</summary>
    public abstract TuningSettings Apply(TuningSettings settings, object value);

    /// <summary>
    /// The value when the option is left out, from the model's padding positions and the settings read
    /// so far; null keeps the settings' own default.
    /// </summary>
    public abstract object? DefaultFor(int padding, TuningSettings settings);

    /// <summary>What the setting is when the option is left out, in words for the help (e.g. <c>1</c>, <c>the model's padding positions</c>).</summary>
    public string? DefaultText { get; init; }

    /// <summary>
    /// The value when the option is left out, as the model's family wants it (LoRA's targets); null, or a
    /// null result, keeps the other defaults. Without a family the settings' own default stands.
    /// </summary>
    public Func<ModelFamily, object?>? FamilyDefault { get; init; }

    /// <summary>
    /// Checks the settings against the model once every knob is read: the model, the settings, how an
    /// error names the option (e.g. <c>--rank</c>) and whether it was given; throws
    /// <see cref="PrefixLabException"/>.
    /// </summary>
    public abstract void Check(ILanguageModel model, TuningSettings settings, string what, bool given);
}

/// <summary>A <see cref="Knob"/> of the settings type <typeparamref name="TSettings"/> (or a type derived from it).</summary>
/// <typeparam name="TSettings">The settings the knob writes into.</typeparam>
/// <param name="Name">The option name without dashes.</param>
/// <param name="Type">What the value is.</param>
/// <param name="Placeholder">The value's placeholder in the usage text.</param>
/// <param name="Help">The usage text after the option.</param>
/// <param name="Min">Smallest value (Int, Number).</param>
/// <param name="Max">Largest value (Int, Number).</param>
/// <param name="Set">Writes a value into the settings.</param>
public sealed record Knob<TSettings>(string Name, KnobType Type, string Placeholder, string Help, double Min, double Max, Func<TSettings, object, TSettings> Set)
    : Knob(Name, Type, Placeholder, Help, Min, Max)
    where TSettings : TuningSettings
{
    /// <summary>The value when the option is left out (see <see cref="Knob.DefaultFor"/>); null keeps the settings' default.</summary>
    public Func<int, TSettings, object?>? Default { get; init; }

    /// <summary>The check once every knob is read (see <see cref="Knob.Check"/>); null checks nothing more.</summary>
    public Action<ILanguageModel, TSettings, string, bool>? Validate { get; init; }

    /// <inheritdoc />
    public override TuningSettings Apply(TuningSettings settings, object value) => Set(Own(settings), value);

    /// <inheritdoc />
    public override object? DefaultFor(int padding, TuningSettings settings) => Default?.Invoke(padding, Own(settings));

    /// <inheritdoc />
    public override void Check(ILanguageModel model, TuningSettings settings, string what, bool given) => Validate?.Invoke(model, Own(settings), what, given);

    private TSettings Own(TuningSettings settings) => settings as TSettings
        ?? throw new PrefixLabException($"option --{Name} does not apply to {settings.GetType().Name}");
}

/// <summary>The setting <c>params --match</c> varies to match a parameter count: a method's size.</summary>
/// <param name="Knob">The knob's name, as <c>--match METHOD:knob=N</c> spells it.</param>
/// <param name="Label">How a result names it, e.g. <c>prefix size</c>.</param>
public abstract record SizeKnob(string Knob, string Label)
{
    /// <summary>The settings with this size.</summary>
    public abstract TuningSettings With(TuningSettings settings, int size);

    /// <summary>The size the settings give.</summary>
    public abstract int Of(TuningSettings settings);
}

/// <summary>A <see cref="SizeKnob"/> of the settings type <typeparamref name="TSettings"/> (or a type derived from it).</summary>
/// <typeparam name="TSettings">The settings whose size it is.</typeparam>
/// <param name="Knob">The knob's name.</param>
/// <param name="Label">How a result names it.</param>
/// <param name="SetSize">The settings with this size.</param>
/// <param name="SizeOf">The size the settings give.</param>
public sealed record SizeKnob<TSettings>(string Knob, string Label, Func<TSettings, int, TSettings> SetSize, Func<TSettings, int> SizeOf) : SizeKnob(Knob, Label)
    where TSettings : TuningSettings
{
    /// <inheritdoc />
    public override TuningSettings With(TuningSettings settings, int size) => SetSize(Own(settings), size);

    /// <inheritdoc />
    public override int Of(TuningSettings settings) => SizeOf(Own(settings));

    private TSettings Own(TuningSettings settings) => settings as TSettings
        ?? throw new PrefixLabException($"the {Label} is not a setting of {settings.GetType().Name}");
}

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
    Dictionary<string, Tensor> Export(ITuningMethod method, ILanguageModel model, JsonObject config);

    /// <summary>
    /// The settings and the method's own tensors (by its names) that <paramref name="config"/> and
    /// <paramref name="tensors"/> of the PEFT adapter in <paramref name="directory"/> describe.
    /// </summary>
    (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, ILanguageModel model, string directory);
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

    /// <summary>The type of the method's settings (<see cref="MethodKind{TSettings}"/>).</summary>
    public abstract Type SettingsType { get; }

    /// <summary>The method's settings with every field at its default.</summary>
    public abstract TuningSettings Defaults { get; }

    /// <summary>
    /// The method's settings from knob values by knob name (int, double, string[] or int[], as
    /// <see cref="Knob.Apply"/> takes them): values of knobs the method lacks are ignored, and a knob left
    /// out takes its <see cref="Knob.DefaultFor"/> (from <paramref name="padding"/>, the model's padding
    /// positions), its <see cref="Knob.FamilyDefault"/> for the model's <paramref name="family"/>, or the
    /// settings' default.
    /// </summary>
    public TuningSettings Settings(IReadOnlyDictionary<string, object> values, int padding = 1, ModelFamily? family = null)
    {
        var settings = Defaults;
        foreach (var knob in Knobs.Where(k => values.ContainsKey(k.Name)))
        {
            settings = knob.Apply(settings, values[knob.Name]);
        }
        // Defaults that depend on the model or on other knobs, once every given value is in.
        foreach (var knob in Knobs.Where(k => !values.ContainsKey(k.Name)))
        {
            object? fromFamily = family is not null ? knob.FamilyDefault?.Invoke(family) : null;
            if ((fromFamily ?? knob.DefaultFor(padding, settings)) is { } value)
            {
                settings = knob.Apply(settings, value);
            }
        }
        return settings;
    }

    /// <summary>
    /// Attaches the method to <paramref name="model"/>, its initial tensors drawn from
    /// <paramref name="generator"/> (never torch's global generator).
    /// </summary>
    public abstract ITuningMethod Attach(ILanguageModel model, TuningSettings settings, Generator generator);

    /// <summary>The settings an adapter file holds for <paramref name="settings"/> (reparameterisations folded).</summary>
    public virtual TuningSettings Saved(TuningSettings settings) => settings;

    /// <summary>
    /// The settings an adapter file's metadata describes: <paramref name="json"/>, the settings' own JSON
    /// form (<see cref="ModelFile.Json"/>'s names), and <paramref name="positions"/>, the file's
    /// <see cref="AdapterInfo.Positions"/>. Unknown keys are refused, naming <paramref name="path"/>.
    /// </summary>
    public abstract TuningSettings Read(string path, string json, KvPositions? positions);

    /// <summary>What an adapter file records in <see cref="AdapterInfo.Positions"/> for <paramref name="settings"/>; null for nothing.</summary>
    public virtual KvPositions? Positions(TuningSettings settings) => null;

    /// <summary>
    /// <paramref name="identity"/> (what names a run in a cache key or a training fingerprint) with any
    /// revision of the method's meaning made after runs were first cached; by default unchanged.
    /// </summary>
    public virtual object Identity(object identity, TuningSettings settings) => identity;
}

/// <summary>
/// A method whose settings are <typeparamref name="TSettings"/>: the settings the registry passes in are
/// checked to be of that type (one clear line otherwise) before the method's own code sees them.
/// </summary>
/// <typeparam name="TSettings">The method's own settings record.</typeparam>
public abstract class MethodKind<TSettings> : MethodKind
    where TSettings : TuningSettings, new()
{
    /// <inheritdoc />
    public sealed override Type SettingsType => typeof(TSettings);

    /// <inheritdoc />
    public sealed override TuningSettings Defaults => new TSettings();

    /// <inheritdoc />
    public sealed override ITuningMethod Attach(ILanguageModel model, TuningSettings settings, Generator generator) => Attach(model, Own(settings), generator);

    /// <inheritdoc />
    public sealed override TuningSettings Saved(TuningSettings settings) => Saved(Own(settings));

    /// <inheritdoc />
    public sealed override KvPositions? Positions(TuningSettings settings) => Positions(Own(settings));

    /// <inheritdoc />
    public sealed override object Identity(object identity, TuningSettings settings) => Identity(identity, Own(settings));

    /// <inheritdoc />
    public override TuningSettings Read(string path, string json, KvPositions? positions) =>
        ModelFile.ParseJson<TSettings>(path, json, $"{Name} settings");

    /// <summary>Attaches the method with its own settings (see <see cref="MethodKind.Attach"/>).</summary>
    protected abstract ITuningMethod Attach(ILanguageModel model, TSettings settings, Generator generator);

    /// <summary>The settings an adapter file holds (see <see cref="MethodKind.Saved"/>).</summary>
    protected virtual TSettings Saved(TSettings settings) => settings;

    /// <summary>What an adapter file records as its positions (see <see cref="MethodKind.Positions"/>).</summary>
    protected virtual KvPositions? Positions(TSettings settings) => null;

    /// <summary>The run identity with the method's revisions (see <see cref="MethodKind.Identity"/>).</summary>
    protected virtual object Identity(object identity, TSettings settings) => identity;

    /// <summary><paramref name="settings"/> as this method's, or one clear line naming both types.</summary>
    protected TSettings Own(TuningSettings settings) => settings.GetType() == typeof(TSettings)
        ? (TSettings)settings
        : throw new PrefixLabException($"method '{Name}' takes {typeof(TSettings).Name}, not {settings.GetType().Name}");
}
