using System.Globalization;
using System.Text.RegularExpressions;

namespace PrefixLab.Experiments;

/// <summary>
/// A metric a runner declares it measures: a name, or a pattern of names whose <c>{…}</c> parts stand for
/// any text without '/' (e.g. <c>layer-{L}/spread-share</c>).
/// </summary>
/// <param name="Pattern">The name or pattern.</param>
/// <param name="Trials">For an accuracy in percent, the test samples behind it (its binomial sampling error); null otherwise.</param>
public sealed partial record MetricName(string Pattern, int? Trials = null)
{
    /// <summary>Whether <paramref name="name"/> is this metric.</summary>
    public bool Matches(string name) =>
        Pattern.Contains('{', StringComparison.Ordinal)
            ? Regex.IsMatch(name, "^" + Placeholder().Replace(Regex.Escape(Pattern).Replace("\\{", "{", StringComparison.Ordinal), "[^/]+") + "$")
            : name == Pattern;

    [GeneratedRegex("\\{[^}]*\\}")]
    private static partial Regex Placeholder();
}

/// <summary>
/// What each kind of runner declares without running: the metrics it produces and the settings it runs
/// with, per profile. Specs are checked against them when they load (a rule or paper number naming a metric
/// no runner produces, or a protocol naming a setting no runner has, is refused), and the deviations
/// from the paper's protocol in the report are derived from them.
/// </summary>
public static class Declarations
{
    private sealed record Kind(Func<ExperimentSpec, Profile, IReadOnlyList<MetricName>> Metrics, Func<ExperimentSpec, Profile, IReadOnlyDictionary<string, double>> Settings);

    private static readonly Dictionary<string, Kind> Kinds = new()
    {
        [TuningRunner.KindName] = new(TuningRunner.Metrics, TuningRunner.Settings),
        [ConstructionsRunner.KindName] = new(ConstructionsRunner.Metrics, ConstructionsRunner.Settings),
        [CapacityRunner.KindName] = new(CapacityRunner.Metrics, CapacityRunner.Settings),
        [CompletionCountRunner.KindName] = new(CompletionCountRunner.Metrics, CompletionCountRunner.Settings),
        [Gpt2SpreadRunner.KindName] = new(Gpt2SpreadRunner.Metrics, Gpt2SpreadRunner.Settings),
        [LlamaRunner.IdentitiesKind] = new(LlamaRunner.Metrics, LlamaRunner.Settings),
        [LlamaRunner.CompletionsKind] = new(LlamaRunner.Metrics, LlamaRunner.Settings),
    };

    /// <summary>Whether a runner of <paramref name="kind"/> declares its metrics and settings.</summary>
    public static bool Knows(string kind) => Kinds.ContainsKey(kind);

    /// <summary>The metrics <paramref name="spec"/>'s runner produces under <paramref name="profile"/> (none for an unknown kind).</summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile) =>
        Kinds.TryGetValue(spec.Kind, out var kind) ? kind.Metrics(spec, profile) : [];

    /// <summary>The settings <paramref name="spec"/>'s runner uses under <paramref name="profile"/>, by name (none for an unknown kind).</summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile) =>
        Kinds.TryGetValue(spec.Kind, out var kind) ? kind.Settings(spec, profile) : new Dictionary<string, double>();

    /// <summary>The test samples behind metric <paramref name="name"/> if it is an accuracy, else null.</summary>
    public static int? Trials(ExperimentSpec spec, Profile profile, string name) =>
        Metrics(spec, profile).FirstOrDefault(m => m.Matches(name))?.Trials;

    /// <summary>
    /// Refuses, with one line, a rule check or paper number naming a metric that <paramref name="spec"/>'s
    /// runner produces under no profile, and a protocol entry naming a setting it does not have.
    /// </summary>
    public static void Check(ExperimentSpec spec)
    {
        if (!Kinds.ContainsKey(spec.Kind))
        {
            return;
        }
        var metrics = Profiles.All.SelectMany(p => Metrics(spec, p)).DistinctBy(m => m.Pattern).ToList();
        var named = spec.Rules.SelectMany(r => r.All).SelectMany(c => c.Above is { } other ? [c.Metric, other] : new[] { c.Metric }).Concat(spec.Paper.Keys);
        var unknown = named.FirstOrDefault(n => !metrics.Any(m => m.Matches(n)));
        PrefixLabException.Check(unknown is null,
            $"spec '{spec.Name}': no metric '{unknown}' is produced by the {spec.Kind} runner (it produces: {string.Join(", ", metrics.Select(m => m.Pattern))})");
        var settings = Profiles.All.SelectMany(p => Settings(spec, p).Keys).Distinct().ToList();
        var unset = spec.Protocol.Keys.FirstOrDefault(k => !settings.Contains(k));
        PrefixLabException.Check(unset is null,
            $"spec '{spec.Name}': the protocol names '{unset}', which the {spec.Kind} runner has no setting of (its settings: {string.Join(", ", settings)})");
    }

    /// <summary>
    /// Each setting of the paper's protocol (<see cref="ExperimentSpec.Protocol"/>) that
    /// <paramref name="profile"/> runs differently, or not at all, beside the paper's value.
    /// </summary>
    public static IReadOnlyList<string> Deviations(ExperimentSpec spec, Profile profile)
    {
        var settings = Settings(spec, profile);
        var lines = new List<string>();
        foreach (var (name, paper) in spec.Protocol.Where(p => settings.ContainsKey(p.Key)))
        {
            double ours = settings[name];
            if (ours != paper)
            {
                string factor = paper != 0 && ours != 0 ? $"; × {Number(ours / paper)}" : "";
                lines.Add($"{name}: {Number(ours)} (paper {Number(paper)}{factor})");
            }
        }
        // A run the profile drops takes one line with all the paper's settings of it.
        foreach (var run in spec.Protocol.Where(p => !settings.ContainsKey(p.Key)).GroupBy(p => p.Key[..Math.Max(p.Key.LastIndexOf('/'), 0)]))
        {
            string paper = string.Join(", ", run.Select(p => $"{p.Key[(p.Key.LastIndexOf('/') + 1)..]} {Number(p.Value)}"));
            lines.Add($"{(run.Key.Length > 0 ? run.Key : "setting")}: not run (paper {paper})");
        }
        return lines;
    }

    /// <summary>A setting as the deviation list writes it: counts with thousands separators, small rates as <c>5e-5</c>.</summary>
    public static string Number(double value) =>
        value == Math.Round(value) && Math.Abs(value) < 1e9 ? value.ToString("N0", CultureInfo.InvariantCulture)
        : Math.Abs(value) < 0.01 ? value.ToString("0.##e+0", CultureInfo.InvariantCulture)
        : value.ToString("G3", CultureInfo.InvariantCulture);
}
