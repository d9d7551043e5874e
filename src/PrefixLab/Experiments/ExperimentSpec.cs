using System.Text.Json;
using System.Text.Json.Serialization;

namespace PrefixLab.Experiments;

/// <summary>
/// One experiment as data (a JSON file under <c>experiments/</c>): what it is, which claims it bears on,
/// the runner kind that performs it, that kind's setup, the paper's numbers and the rules that decide
/// the claims from our numbers.
/// </summary>
public sealed record ExperimentSpec
{
    /// <summary>Short unique name, e.g. <c>nb01</c>; metric and cache names build on it.</summary>
    public required string Name { get; init; }

    /// <summary>One-line title for the report.</summary>
    public required string Title { get; init; }

    /// <summary>The runner that performs it (<see cref="IExperimentRunner.Kind"/>), e.g. <c>tuning</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>The claims of paper.md (C1–C6) it bears on.</summary>
    public IReadOnlyList<string> Claims { get; init; } = [];

    /// <summary>What it shows and how, for the report.</summary>
    public string? Description { get; init; }

    /// <summary>The runner's own settings; each kind reads its own record from it (<see cref="SetupAs{T}"/>).</summary>
    public JsonElement Setup { get; init; }

    /// <summary>
    /// What the experiment needs that this build or machine lacks (a checkpoint, a data set), in words.
    /// When its kind has no runner, the report gives this as the reason it did not run.
    /// </summary>
    public string? Requires { get; init; }

    /// <summary>
    /// Evidence beyond what this machine can run by itself (a checkpoint the user names): when it does not
    /// run, the claims it bears on are decided by the experiments that did. An experiment that is not
    /// optional and does not run leaves its claims not decided (the GPT-2 appendix is C6's own evidence;
    /// its digit analogue alone does not decide C6).
    /// </summary>
    public bool Optional { get; init; }

    /// <summary>The paper's numbers by metric name (accuracies in percent).</summary>
    public IReadOnlyDictionary<string, double> Paper { get; init; } = new Dictionary<string, double>();

    /// <summary>
    /// The paper's own settings of this experiment, by the names of the runner's settings (e.g.
    /// <c>pretrain/steps</c>, <c>prefix-descending/lr</c>, <c>evaluation/test-samples</c>). The report lists
    /// every setting a profile runs differently as a deviation from the paper's protocol.
    /// </summary>
    public IReadOnlyDictionary<string, double> Protocol { get; init; } = new Dictionary<string, double>();

    /// <summary>The rules that decide claims from the measured metrics.</summary>
    public IReadOnlyList<ClaimRule> Rules { get; init; } = [];

    /// <summary>The spec's file text, canonicalised; cache keys hash it so any edit invalidates its results.</summary>
    [JsonIgnore]
    public string Source { get; init; } = "";

    /// <summary>
    /// <see cref="Setup"/> read as <typeparamref name="T"/>; a setup that is not a JSON object, or does
    /// not fit the record, is a one-line error naming the spec. Null members are left for the runner to check.
    /// </summary>
    public T SetupAs<T>()
        where T : class
    {
        try
        {
            return (Setup.ValueKind == JsonValueKind.Object ? Setup.Deserialize<T>(SpecLoader.StrictJson) : null)
                ?? throw new PrefixLabException($"spec '{Name}': the {Kind} kind needs a setup object");
        }
        catch (JsonException e)
        {
            throw new PrefixLabException($"spec '{Name}': bad setup: {e.Message.Split('\n')[0]}");
        }
    }
}

/// <summary>Reads the specs of a folder.</summary>
public static class SpecLoader
{
    /// <summary>JSON settings of specs, setups and results: snake_case names, comments and trailing commas allowed.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>
    /// The same settings for reading specs and their setups, where a key no record has is an error: a
    /// misspelt bound or setting would otherwise be dropped and leave a check or a run other than written.
    /// </summary>
    public static readonly JsonSerializerOptions StrictJson = new(Json) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };

    /// <summary>Every <c>*.json</c> spec in <paramref name="directory"/>, in file-name order.</summary>
    public static IReadOnlyList<ExperimentSpec> LoadDirectory(string directory)
    {
        PrefixLabException.Check(Directory.Exists(directory), $"no experiments folder at '{directory}'");
        var specs = Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal).Select(Load).ToList();
        PrefixLabException.Check(specs.Count > 0, $"no experiment specs (*.json) in '{directory}'");
        var twice = specs.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        PrefixLabException.Check(twice is null, $"two specs are named '{twice?.Key}'");
        return specs;
    }

    /// <summary>Reads and checks one spec file.</summary>
    public static ExperimentSpec Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Reads and checks a spec from its JSON text (<paramref name="origin"/> names it in errors).</summary>
    public static ExperimentSpec Parse(string json, string origin)
    {
        ExperimentSpec spec;
        try
        {
            spec = JsonSerializer.Deserialize<ExperimentSpec>(json, StrictJson) ?? throw new JsonException("empty");
        }
        catch (JsonException e)
        {
            throw new PrefixLabException($"spec '{origin}' is not valid: {e.Message.Split('\n')[0]}");
        }
        PrefixLabException.Check(spec.Name.Length > 0 && spec.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'),
            $"spec '{origin}': name '{spec.Name}' must be letters, digits, '-' or '_'");
        foreach (var rule in spec.Rules)
        {
            PrefixLabException.Check(spec.Claims.Contains(rule.Claim), $"spec '{spec.Name}': a rule decides {rule.Claim}, which the spec does not list in its claims");
            PrefixLabException.Check(rule.All is { Count: > 0 }, $"spec '{spec.Name}': the rule for {rule.Claim} has no checks");
            PrefixLabException.Check(!string.IsNullOrWhiteSpace(rule.Rationale),
                $"spec '{spec.Name}': the rule for {rule.Claim} has no rationale (which number of the paper it rests on, and which band around it it accepts)");
            foreach (var check in rule.All)
            {
                PrefixLabException.Check(check.AtLeast is not null || check.AtMost is not null || check.Above is not null,
                    $"spec '{spec.Name}': a check of {rule.Claim} on '{check.Metric}' has no bound (give at_least, at_most or above)");
            }
        }
        Declarations.Check(spec);
        // Canonical text: the parsed document written back, so whitespace and comments do not change cache keys.
        using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        return spec with { Source = JsonSerializer.Serialize(document.RootElement) };
    }
}
