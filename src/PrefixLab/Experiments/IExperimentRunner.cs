using PrefixLab.Training;

namespace PrefixLab.Experiments;

/// <summary>
/// Performs the experiments of one kind. A new kind of experiment (the constructions, a GPT-2 study) is
/// one class that reads its setup from <see cref="ExperimentSpec.Setup"/> and returns metrics; the
/// engine does the seeds, the caching of results, the rules and the report.
/// </summary>
public interface IExperimentRunner
{
    /// <summary>The spec kind it runs.</summary>
    string Kind { get; }

    /// <summary>
    /// Bumped when the runner's code changes what it measures, so cached results of the old code are not
    /// reused.
    /// </summary>
    int Version { get; }

    /// <summary>
    /// What the runner reads besides its spec (a checkpoint, a data file), as a hash: part of the key of
    /// cached results, so results from other inputs are never reused. Empty for runners that read nothing else.
    /// </summary>
    string InputsKey => "";

    /// <summary>Checks <paramref name="spec"/>'s setup before anything runs (bad specs fail early).</summary>
    void Validate(ExperimentSpec spec);

    /// <summary>What <paramref name="profile"/> scales down from the paper, in words.</summary>
    IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile);

    /// <summary>
    /// The work of one seed with rough wall times on this machine, keyed like the cache, so that work
    /// two specs share (a base model, an adapter) is counted once in the estimate and the ETA.
    /// </summary>
    IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed);

    /// <summary>Runs one seed. Trained models and adapters go through <see cref="RunContext.Cache"/>.</summary>
    SeedResult Run(ExperimentSpec spec, RunContext context);

    /// <summary>
    /// Trains the item keyed <paramref name="key"/> of the seed's <see cref="Plan"/>, one marked
    /// <see cref="WorkItem.Trainable"/>, into the cache ahead of the seed, so that another process can do
    /// it while this one does other work. <see cref="Run"/> then finds it cached.
    /// </summary>
    void Train(ExperimentSpec spec, RunContext context, string key) =>
        throw new PrefixLabException($"spec '{spec.Name}': kind '{Kind}' trains nothing ahead of its seeds (no item '{key}')");
}

/// <summary>A piece of work in a runner's plan.</summary>
/// <param name="Key">Its cache key (equal keys are the same work, done once).</param>
/// <param name="Seconds">Its estimated wall time alone on this machine.</param>
public sealed record WorkItem(string Key, double Seconds)
{
    /// <summary>What it is, in words (e.g. <c>pretrain ascending</c>), for the plan.</summary>
    public string? Label { get; init; }

    /// <summary>Whether <see cref="IExperimentRunner.Train"/> does it alone: then it is a unit of work of its own.</summary>
    public bool Trainable { get; init; }

    /// <summary>The key of the item it needs finished first (a tuning run's base model), if any.</summary>
    public string? After { get; init; }
}

/// <summary>What a runner gets for one seed.</summary>
/// <param name="Profile">The profile.</param>
/// <param name="Seed">The seed (1, 2, …).</param>
/// <param name="Cache">Where trained models and adapters are kept.</param>
/// <param name="Report">Tells the progress display the stage and, while training, the step.</param>
public sealed record RunContext(Profile Profile, ulong Seed, ResultCache Cache, Action<string, TrainingProgress?> Report);
