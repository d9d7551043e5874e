using PrefixLab.Training;

namespace PrefixLab.Experiments;

/// <summary>
/// A metric over seeds: its mean, sample standard deviation (0 for one seed), every value, and its 95%
/// interval (<see cref="Intervals"/>: over seeds and, for an accuracy, over its test samples).
/// </summary>
/// <param name="Mean">Mean over seeds.</param>
/// <param name="Std">Sample standard deviation over seeds (0 with one seed).</param>
/// <param name="Values">One value per seed, in seed order.</param>
/// <param name="Low">Lower end of the 95% interval of the mean.</param>
/// <param name="High">Upper end of the 95% interval of the mean.</param>
/// <param name="Trials">For an accuracy (percent), the test samples behind each seed's value; null for other measurements.</param>
public sealed record MetricSummary(double Mean, double Std, IReadOnlyList<double> Values, double Low, double High, int? Trials = null)
{
    /// <summary>Summarises <paramref name="values"/>, each an accuracy over <paramref name="trials"/> test samples if given.</summary>
    public static MetricSummary Of(IReadOnlyList<double> values, int? trials = null)
    {
        double mean = values.Average();
        double std = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        var (low, high) = Intervals.Of(values, trials);
        return new MetricSummary(mean, std, values, low, high, trials);
    }
}

/// <summary>What one seed of one experiment measured.</summary>
/// <param name="Metrics">Values by metric name (accuracies in percent).</param>
/// <param name="Notes">Facts worth a line in the report (parameter counts, losses).</param>
public sealed record SeedResult(IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<string> Notes);

/// <summary>How an experiment ended.</summary>
public enum ExperimentStatus
{
    /// <summary>Run now.</summary>
    Done,

    /// <summary>Every seed came from the result cache.</summary>
    Cached,

    /// <summary>Its kind has no runner in this build (the message gives the spec's <see cref="ExperimentSpec.Requires"/> when it has one).</summary>
    NotAvailable,

    /// <summary>It threw; the message says why.</summary>
    Failed,
}

/// <summary>One experiment's outcome: its metrics over seeds, the paper's numbers and the rules' verdicts.</summary>
/// <param name="Name">The spec's name.</param>
/// <param name="Title">The spec's title.</param>
/// <param name="Kind">The runner kind.</param>
/// <param name="Claims">The claims it bears on.</param>
/// <param name="Description">The spec's description.</param>
/// <param name="Status">How it ended.</param>
/// <param name="Message">Why it did not run, or failed.</param>
/// <param name="Metrics">Measured metrics over seeds.</param>
/// <param name="Paper">The paper's numbers.</param>
/// <param name="Rules">Each rule's verdict.</param>
/// <param name="ScaledDown">What the profile changed from the paper's setup.</param>
/// <param name="Notes">The runner's notes, per seed.</param>
/// <param name="Seconds">Wall time this run spent on it (0 when cached).</param>
public sealed record ExperimentOutcome(
    string Name,
    string Title,
    string Kind,
    IReadOnlyList<string> Claims,
    string? Description,
    ExperimentStatus Status,
    string? Message,
    IReadOnlyDictionary<string, MetricSummary> Metrics,
    IReadOnlyDictionary<string, double> Paper,
    IReadOnlyList<RuleOutcome> Rules,
    IReadOnlyList<string> ScaledDown,
    IReadOnlyList<string> Notes,
    double Seconds);

/// <summary>A claim's verdict over every rule of every experiment that decides it.</summary>
/// <param name="Claim">C1 … C6.</param>
/// <param name="Verdict">Holds only if every rule holds; any failing rule decides against.</param>
/// <param name="Rules">The rules that decided it.</param>
public sealed record ClaimVerdict(string Claim, Verdict Verdict, IReadOnlyList<RuleOutcome> Rules);

/// <summary>A whole reproduction: what ran, under which profile, and what it decided.</summary>
/// <param name="Profile">The profile.</param>
/// <param name="Seeds">Seeds per experiment.</param>
/// <param name="Command">The command line that produced it.</param>
/// <param name="StartedUtc">When it started.</param>
/// <param name="Seconds">Wall time.</param>
/// <param name="Machine">Cores and OS, for the reader.</param>
/// <param name="Experiments">Each experiment's outcome, in spec order.</param>
/// <param name="Claims">Each claim's verdict.</param>
public sealed record Reproduction(
    Profile Profile,
    int Seeds,
    string Command,
    DateTime StartedUtc,
    double Seconds,
    string Machine,
    IReadOnlyList<ExperimentOutcome> Experiments,
    IReadOnlyList<ClaimVerdict> Claims);

/// <summary>Where the engine is, for one progress display of the whole run.</summary>
/// <param name="Index">Experiment k (1-based) …</param>
/// <param name="Count">… of n.</param>
/// <param name="Experiment">Its name.</param>
/// <param name="Stage">What it is doing, e.g. <c>seed 1: prefix on descending</c>.</param>
/// <param name="Training">The training step, when it is training.</param>
/// <param name="Elapsed">Time since the run started.</param>
/// <param name="Remaining">Estimated time left for the whole run.</param>
public sealed record EngineProgress(int Index, int Count, string Experiment, string Stage, TrainingProgress? Training, TimeSpan Elapsed, TimeSpan Remaining);
