using System.Globalization;
using PrefixLab.Constructions;

namespace PrefixLab.Experiments;

/// <summary>A vocabulary and length small enough that every one of the V^N sequences is a target.</summary>
/// <param name="Vocabulary">V.</param>
/// <param name="Length">N.</param>
public sealed record ExhaustiveCount(int Vocabulary, int Length);

/// <summary>The setup of a <c>capacity</c> spec.</summary>
/// <param name="Vocabulary">V of the sampled count.</param>
/// <param name="Length">N of the sampled count.</param>
/// <param name="Samples">Distinct random target sequences, one virtual token each.</param>
/// <param name="Exhaustive">Optionally, a small V and N counted over all V^N targets.</param>
public sealed record CapacitySetup(int Vocabulary, int Length, Sized<int> Samples, ExhaustiveCount? Exhaustive = null);

/// <summary>
/// Runs <c>capacity</c> specs (claim C1) through <see cref="Capacity.Measure"/> on the unconditional
/// construction: the distinct length-N generations of all V single real tokens (hard prompts, at most
/// V) against those of single virtual tokens, one per sampled target. Metrics <c>hard/tried</c>,
/// <c>hard/distinct</c>, <c>virtual/tried</c>, <c>virtual/distinct</c>, <c>virtual/distinct-share</c>
/// (percent of virtual tokens with an output of their own), and with an exhaustive count
/// <c>exhaustive/possible</c> and <c>exhaustive/distinct</c>.
/// </summary>
public sealed class CapacityRunner : IExperimentRunner
{
    /// <summary>The spec kind it runs.</summary>
    public const string KindName = "capacity";

    /// <inheritdoc />
    public string Kind => KindName;

    /// <inheritdoc />
    public int Version => 1;

    /// <inheritdoc />
    public void Validate(ExperimentSpec spec) => Setup(spec);

    /// <inheritdoc />
    /// <remarks>The paper's settings this profile runs differently.</remarks>
    public IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile) => Declarations.Deviations(spec, profile);

    /// <summary>The metrics <see cref="Run"/> returns for <paramref name="spec"/> under <paramref name="profile"/>.</summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile)
    {
        List<MetricName> names = [new("hard/tried"), new("hard/distinct"), new("virtual/tried"), new("virtual/distinct"), new("virtual/distinct-share")];
        if (Setup(spec).Exhaustive is not null)
        {
            names.AddRange([new("exhaustive/possible"), new("exhaustive/distinct")]);
        }
        return names;
    }

    /// <summary>The settings <see cref="Run"/> uses for <paramref name="spec"/> under <paramref name="profile"/>, by name.</summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile)
    {
        var setup = Setup(spec);
        var settings = new Dictionary<string, double> { ["vocabulary"] = setup.Vocabulary, ["length"] = setup.Length, ["samples"] = setup.Samples.For(profile) };
        if (setup.Exhaustive is { } e)
        {
            settings["exhaustive/vocabulary"] = e.Vocabulary;
            settings["exhaustive/length"] = e.Length;
        }
        return settings;
    }

    /// <inheritdoc />
    public IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed)
    {
        var setup = Setup(spec);
        // Measured: 10,000 targets of V = 94, N = 20 in about 1.5 s; the time grows with targets × N.
        double tokens = (setup.Samples.For(profile) * (double)setup.Length) + (setup.Exhaustive is { } e ? Math.Pow(e.Vocabulary, e.Length) * e.Length : 0);
        return [new($"{spec.Name}/capacity/{seed}", 0.5 + (tokens * 7.5e-6))];
    }

    /// <inheritdoc />
    public SeedResult Run(ExperimentSpec spec, RunContext context)
    {
        var setup = Setup(spec);
        int samples = setup.Samples.For(context.Profile);
        context.Report($"{samples:N0} virtual tokens against {setup.Vocabulary} real ones", null);
        var sampled = Capacity.Measure(setup.Vocabulary, setup.Length, exhaustiveUpTo: 0, samples, (int)context.Seed);
        var metrics = new Dictionary<string, double>
        {
            ["hard/tried"] = sampled.RealTokens,
            ["hard/distinct"] = sampled.RealDistinct,
            ["virtual/tried"] = sampled.VirtualTried,
            ["virtual/distinct"] = sampled.VirtualDistinct,
            ["virtual/distinct-share"] = 100.0 * sampled.VirtualDistinct / sampled.VirtualTried,
        };
        var notes = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"V = {setup.Vocabulary}, N = {setup.Length}: {sampled.Possible:G3} sequences; all {sampled.RealTokens} single real tokens give {sampled.RealDistinct} distinct generation(s) (at most V), {sampled.VirtualTried:N0} virtual tokens for distinct random targets give {sampled.VirtualDistinct:N0}"),
            "a real token's embedding carries no payload for the construction's lookup, so real tokens reach fewer than V outputs here; V is the bound for any model",
        };
        if (setup.Exhaustive is { } e)
        {
            context.Report($"all {Math.Pow(e.Vocabulary, e.Length):N0} sequences of V = {e.Vocabulary}, N = {e.Length}", null);
            var all = Capacity.Measure(e.Vocabulary, e.Length, exhaustiveUpTo: long.MaxValue);
            metrics["exhaustive/possible"] = all.Possible;
            metrics["exhaustive/distinct"] = all.VirtualDistinct;
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"exhaustive, V = {e.Vocabulary}, N = {e.Length}: virtual tokens reach {all.VirtualDistinct:N0} of the {all.Possible:N0} sequences; real tokens {all.RealDistinct}"));
        }
        return new SeedResult(metrics, notes);
    }

    private static CapacitySetup Setup(ExperimentSpec spec)
    {
        var setup = spec.SetupAs<CapacitySetup>();
        string where = $"spec '{spec.Name}'";
        // JSON can leave a non-nullable member null; object? sees it as JSON does.
        object? samples = setup.Samples;
        PrefixLabException.Check(samples is not null, $"{where}: a capacity setup needs vocabulary, length and samples");
        ExactLimits.CheckVocab(setup.Vocabulary, TorchSharp.torch.ScalarType.Float32);
        PrefixLabException.Check(setup.Length >= 1, $"{where}: length must be at least 1");
        PrefixLabException.Check(Profiles.All.All(p => setup.Samples.For(p) >= 1), $"{where}: samples must be at least 1");
        if (setup.Exhaustive is { } e)
        {
            ExactLimits.CheckVocab(e.Vocabulary, TorchSharp.torch.ScalarType.Float32);
            PrefixLabException.Check(e.Length >= 1 && Math.Pow(e.Vocabulary, e.Length) <= 1_000_000, $"{where}: the exhaustive count takes at most 1,000,000 sequences (V^N = {Math.Pow(e.Vocabulary, e.Length):G3})");
        }
        return setup;
    }
}
