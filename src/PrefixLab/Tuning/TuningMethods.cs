using PrefixLab.Model;
using TorchSharp;

namespace PrefixLab.Tuning;

/// <summary>The registry of tuning methods: one line per method; everything else asks it.</summary>
public static class TuningMethods
{
    /// <summary>Every method, in the order the command line lists them.</summary>
    public static IReadOnlyList<MethodKind> All { get; } =
    [
        HardPrompt.Kind,
        SoftPrompt.Kind,
        Prefix.Kind,
        PrefixKv.Kind,
        Lora.Kind,
        FullFineTune.Kind,
        Ia3.Kind,
    ];

    /// <summary>Every method's name.</summary>
    public static IReadOnlyList<string> Names => [.. All.Select(k => k.Name)];

    /// <summary>Every knob of every method, each once (by name), in registration order.</summary>
    public static IReadOnlyList<Knob> Knobs => [.. All.SelectMany(k => k.Knobs).DistinctBy(k => k.Name)];

    /// <summary>Method <paramref name="name"/> (any case), or null.</summary>
    public static MethodKind? Find(string name) => All.FirstOrDefault(k => k.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Method <paramref name="name"/>; throws <see cref="PrefixLabException"/> naming the known ones.</summary>
    public static MethodKind Get(string name) =>
        Find(name) ?? throw new PrefixLabException($"unknown method '{name}' (known: {string.Join(", ", Names)})");

    /// <summary>Whether <paramref name="name"/> is a method that acts through the context (<see cref="MethodKind.IsContext"/>).</summary>
    public static bool IsContext(string name) => Find(name)?.IsContext ?? false;

    /// <summary>
    /// <paramref name="identity"/> (what names a run in a cache key or a training fingerprint) with the
    /// revisions method <paramref name="method"/>'s meaning went through (<see cref="MethodKind.Identity"/>):
    /// every other run keeps its identity, and so its cached files.
    /// </summary>
    public static object Identity(object identity, string method, TuningSettings settings) =>
        Find(method)?.Identity(identity, settings) ?? identity;

    /// <summary>
    /// Attaches method <paramref name="name"/> with <paramref name="settings"/> to <paramref name="model"/>.
    /// Its initial tensors (prefix vectors, LoRA A) come from a generator seeded with
    /// <paramref name="seed"/> alone, so they are a function of the seed; the command line and the
    /// experiment engine both start a run with seed S this way. Without a seed (loading a file, counting
    /// parameters: the values are overwritten or unused) the generator is seeded with 0.
    /// </summary>
    public static ITuningMethod Create(string name, ILanguageModel model, TuningSettings settings, ulong? seed = null)
    {
        var kind = Get(name);
        using var generator = new torch.Generator(seed ?? 0);
        return kind.Attach(model, settings, generator);
    }
}
