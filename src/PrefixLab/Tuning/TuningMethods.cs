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

    /// <summary>Every method's name.</summary>
    public static IReadOnlyList<string> Names => [.. Factories.Keys];

    /// <summary>Attaches method <paramref name="name"/> with <paramref name="settings"/> to <paramref name="model"/>.</summary>
    public static ITuningMethod Create(string name, Gpt model, TuningSettings settings) =>
        Factories.TryGetValue(name, out var factory)
            ? factory(model, settings)
            : throw new PrefixLabException($"unknown method '{name}' (known: {string.Join(", ", Factories.Keys)})");
}
