using PrefixLab.Model;

namespace PrefixLab.Tuning;

/// <summary>The tuning methods by name.</summary>
public static class TuningMethods
{
    private static readonly Dictionary<string, Func<Gpt, TuningSettings, ITuningMethod>> Factories = new(StringComparer.OrdinalIgnoreCase)
    {
        ["hard-prompt"] = (m, s) => new HardPrompt(m, s),
        ["soft-prompt"] = (m, s) => new SoftPrompt(m, s),
        ["prefix"] = (m, s) => new Prefix(m, s),
        ["prefix-kv"] = (m, s) => new PrefixKv(m, s),
        ["lora"] = (m, s) => new Lora(m, s),
        ["full"] = (m, s) => new FullFineTune(m, s),
    };

    /// <summary>
    /// <paramref name="identity"/> (what names a run in a cache key or a training fingerprint) with the
    /// revision of the method's meaning where it changed after runs were first cached: prefix-kv with
    /// the content after its prefix. Every other run keeps its identity, and so its cached files.
    /// </summary>
    public static object Identity(object identity, string method, TuningSettings settings) =>
        method.Equals("prefix-kv", StringComparison.OrdinalIgnoreCase) && settings.KvPositions == KvPositions.AfterPrefix
            ? new { identity, positions = KvPositions.AfterPrefix }
            : identity;

    /// <summary>Every method's name.</summary>
    public static IReadOnlyList<string> Names => [.. Factories.Keys];

    /// <summary>
    /// Attaches method <paramref name="name"/> with <paramref name="settings"/> to <paramref name="model"/>.
    /// With a <paramref name="seed"/>, torch's generator is seeded from it first, so the method's initial
    /// vectors (prefix, LoRA A) are a function of the seed alone; the command line and the experiment
    /// engine both start a run with seed S this way.
    /// </summary>
    public static ITuningMethod Create(string name, Gpt model, TuningSettings settings, ulong? seed = null)
    {
        if (!Factories.TryGetValue(name, out var factory))
        {
            throw new PrefixLabException($"unknown method '{name}' (known: {string.Join(", ", Factories.Keys)})");
        }
        if (seed is ulong s)
        {
            TorchSharp.torch.random.manual_seed(unchecked((long)s));
        }
        return factory(model, settings);
    }
}
