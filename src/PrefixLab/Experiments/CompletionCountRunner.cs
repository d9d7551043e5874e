using System.Globalization;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Util;

namespace PrefixLab.Experiments;

/// <summary>The setup of a <c>completion-count</c> spec.</summary>
/// <param name="Model">The base model, as a tuning spec states it (the same values share its cached file).</param>
/// <param name="Pretrain">Its pretraining.</param>
/// <param name="Continuation">Tokens generated greedily after the token (the paper: 10).</param>
/// <param name="Steps">Adam steps of the virtual tokens' training.</param>
/// <param name="Lr">Their learning rate.</param>
/// <param name="Prompt">Token ids after the real or virtual token (default none).</param>
/// <param name="VirtualTokens">
/// Virtual tokens trained in all, at least V (the default): the first V are compared with the V real tokens; all of
/// them show how far past V distinct continuations single virtual tokens go, where real tokens stop at V.
/// </param>
public sealed record CompletionSetup(ModelSetup Model, PretrainSetup Pretrain, int Continuation, Sized<int> Steps, Sized<double> Lr, IReadOnlyList<int>? Prompt = null, Sized<int>? VirtualTokens = null)
{
    /// <summary>Virtual tokens trained under <paramref name="profile"/> on a model of <paramref name="vocab"/> tokens.</summary>
    public int VirtualCount(Profile profile, int vocab) => Math.Max(vocab, VirtualTokens?.For(profile) ?? vocab);
}

/// <summary>
/// Runs <c>completion-count</c> specs (claim C1, paper Section 3): on a base model this reproduction
/// pretrains, the distinct greedy continuations of all V single real tokens against those of V single
/// virtual tokens, each trained so that the frozen model continues with a random target of its own.
/// Metrics <c>real/tried</c> (V), <c>real/distinct</c>, <c>real/distinct-share</c>, <c>virtual/distinct</c>,
/// <c>virtual/distinct-share</c> (percent of the V) and <c>virtual/targets-hit</c> (percent of the
/// virtual tokens whose continuation is their target); with more virtual tokens than V,
/// <c>virtual-all/tried</c>, <c>virtual-all/distinct</c> and <c>virtual-all/targets-hit</c> over all of them.
/// On a model pretrained on <see cref="TopicBytesTask"/>, also <c>language/distinct</c> (the language's own
/// greedy continuations of the single bytes) and <c>real/language-greedy</c> (percent of the real tokens
/// whose continuation is the language's).
/// </summary>
public sealed class CompletionCountRunner : IExperimentRunner
{
    /// <summary>The spec kind it runs.</summary>
    public const string KindName = "completion-count";

    /// <inheritdoc />
    public string Kind => KindName;

    /// <inheritdoc />
    public int Version => 2;

    /// <inheritdoc />
    public void Validate(ExperimentSpec spec)
    {
        var setup = Setup(spec);
        foreach (var profile in Profiles.All)
        {
            var config = Config(setup, profile);
            int positions = 1 + (setup.Prompt?.Count ?? 0) + setup.Continuation - 1;
            PrefixLabException.Check(positions <= config.BlockSize, $"spec '{spec.Name}': the continuation needs {positions} positions, the {profile.Name} model has {config.BlockSize}");
            PrefixLabException.Check(setup.Steps.For(profile) >= 1 && setup.Lr.For(profile) > 0, $"spec '{spec.Name}': steps and lr must be positive");
        }
    }

    /// <inheritdoc />
    /// <remarks>The paper's settings (of its LLaMA-7B count) this profile runs differently.</remarks>
    public IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile) => Declarations.Deviations(spec, profile);

    /// <summary>The metrics <see cref="Run"/> returns for <paramref name="spec"/> under <paramref name="profile"/>.</summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile)
    {
        var setup = Setup(spec);
        string[] counts = ["tried", "distinct", "distinct-share", "targets-hit"];
        List<MetricName> names = [new("real/tried"), new("real/distinct"), new("real/distinct-share"), .. counts.Select(c => new MetricName($"virtual/{c}"))];
        int vocab = Config(setup, profile).VocabSize;
        if (setup.VirtualCount(profile, vocab) > vocab)
        {
            names.AddRange(counts.Select(c => new MetricName($"virtual-all/{c}")));
        }
        if (Language(setup) is not null)
        {
            names.AddRange([new("language/distinct"), new("real/language-greedy")]);
        }
        return names;
    }

    /// <summary>
    /// The settings <see cref="Run"/> uses for <paramref name="spec"/> under <paramref name="profile"/>, by
    /// name: the base model's, its vocabulary, the continuation's length and the real and virtual tokens tried.
    /// </summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile)
    {
        var setup = Setup(spec);
        int vocab = Config(setup, profile).VocabSize;
        var settings = new TuningSetup(setup.Model, setup.Pretrain, [], []).Settings(profile)
            .Where(s => s.Key.StartsWith("model/", StringComparison.Ordinal) || s.Key.StartsWith("pretrain/", StringComparison.Ordinal))
            .ToDictionary();
        settings["model/vocabulary"] = vocab;
        settings["continuation"] = setup.Continuation;
        settings["real-tokens"] = vocab;
        settings["virtual-tokens"] = setup.VirtualCount(profile, vocab);
        settings["virtual/steps"] = setup.Steps.For(profile);
        settings["virtual/lr"] = setup.Lr.For(profile);
        return settings;
    }

    /// <inheritdoc />
    public IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed)
    {
        var setup = Setup(spec);
        var config = Config(setup, profile);
        double step = SpeedModel.SecondsPerStep(config);
        // A step of the virtual tokens is one batch of short rows: measured on the quick model, 64 rows
        // take about 36 ms a step (two thirds of a pretraining step of 64 rows of 31 positions).
        double rows = setup.VirtualCount(profile, config.VocabSize);
        return
        [
            new(CachedTraining.BaseKey(config, setup.Model, setup.Pretrain, profile, seed), setup.Pretrain.Steps.For(profile) * step) { Label = $"pretrain {setup.Pretrain.Task}", Trainable = true },
            new($"{spec.Name}/virtual/{seed}", setup.Steps.For(profile) * step * 0.7 * Math.Max(rows / 64, 0.2)) { Label = "virtual tokens and counts" },
        ];
    }

    /// <inheritdoc />
    public void Train(ExperimentSpec spec, RunContext context, string key)
    {
        var setup = Setup(spec);
        var config = Config(setup, context.Profile);
        PrefixLabException.Check(CachedTraining.BaseKey(config, setup.Model, setup.Pretrain, context.Profile, context.Seed) == key, $"spec '{spec.Name}' has no training '{key}' for seed {context.Seed}");
        new CachedTraining(context).Base(config, setup.Model, setup.Pretrain);
    }

    /// <inheritdoc />
    public SeedResult Run(ExperimentSpec spec, RunContext context)
    {
        var setup = Setup(spec);
        var profile = context.Profile;
        var config = Config(setup, profile);
        var baseFile = new CachedTraining(context).Base(config, setup.Model, setup.Pretrain);
        var (model, _) = ModelFile.Load(baseFile.Path);
        using var _ = model;
        model.eval();
        int vocab = config.VocabSize, length = setup.Continuation;
        var prompt = setup.Prompt ?? [];

        context.Report($"continuations of all {vocab} real tokens", null);
        var realContinuations = CompletionCount.Real(model, prompt, length);
        var real = CompletionCount.Tally(realContinuations);

        // All virtual tokens train as one batch, each on a distinct random target of its own.
        int count = setup.VirtualCount(profile, vocab), steps = setup.Steps.For(profile);
        var targets = RandomSequences.Distinct(vocab, length, count, (int)context.Seed).ToList();
        string label = $"training {targets.Count} virtual tokens";
        context.Report(label, null);
        var options = new TrainOptions { Iterations = steps, LearningRate = setup.Lr.For(profile), Seed = context.Seed, LogEvery = Math.Max(1, steps / 10) };
        var tokens = CompletionCount.TrainVirtual(model, targets, prompt, options, p => context.Report(label, p));
        context.Report($"continuations of {targets.Count} virtual tokens", null);
        var continuations = CompletionCount.Virtual(model, tokens, prompt, length);

        var metrics = new Dictionary<string, double>
        {
            ["real/tried"] = real.Tried,
            ["real/distinct"] = real.Distinct,
            ["real/distinct-share"] = 100.0 * real.Distinct / real.Tried,
        };
        var notes = new List<string>
        {
            setup.Pretrain.Describe(config, profile),
            string.Create(CultureInfo.InvariantCulture, $"the {vocab} real tokens give {real.Distinct} distinct {length}-token continuations (most common [{string.Join(' ', real.MostCommon)}] from {real.MostCommonCount})"),
        };
        void Count(string name, int rows)
        {
            var tally = CompletionCount.Tally([.. continuations.Take(rows)]);
            var pairs = continuations.Take(rows).Zip(targets).ToList();
            int hit = pairs.Count(p => p.First.SequenceEqual(p.Second));
            int tokensRight = pairs.Sum(p => p.First.Zip(p.Second).Count(t => t.First == t.Second));
            metrics[$"{name}/tried"] = rows;
            metrics[$"{name}/distinct"] = tally.Distinct;
            metrics[$"{name}/distinct-share"] = 100.0 * tally.Distinct / rows;
            metrics[$"{name}/targets-hit"] = 100.0 * hit / rows;
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{rows} virtual tokens ({name}), trained {steps:N0} steps on distinct random targets, give {tally.Distinct} distinct continuations; {hit} continue with exactly their target, {100.0 * tokensRight / (rows * length):F0}% of the target tokens are right (the training plateaus: one vector in front of this small frozen model steers it only in part)"));
        }
        Count("virtual", vocab);
        if (targets.Count > vocab)
        {
            Count("virtual-all", targets.Count);
        }
        if (Language(setup) is { } language)
        {
            // The language's own greedy continuations: the structure a model that learnt it binds real tokens to.
            var own = Enumerable.Range(0, vocab).Select(t => language.GreedyContinuation(t, length)).ToList();
            int matching = own.Zip(realContinuations).Count(p => p.First.SequenceEqual(p.Second));
            metrics["language/distinct"] = CompletionCount.Tally(own).Distinct;
            metrics["real/language-greedy"] = 100.0 * matching / vocab;
            notes.Add($"the language itself continues the {vocab} single bytes greedily in {metrics["language/distinct"]} distinct ways (one per topic); {matching} of the {vocab} real tokens continue exactly so on the trained model");
        }
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"with V = {vocab} a share moves by {100.0 / vocab:G2} points per continuation, and real tokens can give at most {vocab} however the model is trained (the paper's shares are over 32,000 and 48,218 tokens of LLaMA-7B)"));
        return new SeedResult(metrics, notes);
    }

    private static CompletionSetup Setup(ExperimentSpec spec)
    {
        var setup = spec.SetupAs<CompletionSetup>();
        object?[] parts = [setup.Model, setup.Pretrain, setup.Steps, setup.Lr];
        PrefixLabException.Check(parts.All(p => p is not null), $"spec '{spec.Name}': a completion-count setup needs model, pretrain, continuation, steps and lr");
        PrefixLabException.Check(setup.Continuation >= 2, $"spec '{spec.Name}': the continuation needs at least 2 tokens");
        PrefixLabException.Check(setup.VirtualTokens is null || Profiles.All.All(p => setup.VirtualTokens.For(p) >= 1), $"spec '{spec.Name}': virtual_tokens must be at least 1");
        return setup;
    }

    /// <summary>
    /// The pretraining task when it is a language with a greedy continuation of its own
    /// (<see cref="TopicBytesTask"/>) and no prompt follows the token, else null.
    /// </summary>
    private static TopicBytesTask? Language(CompletionSetup setup) =>
        setup.Prompt is not { Count: > 0 } ? TaskRegistry.Default.Get(setup.Pretrain.Task) as TopicBytesTask : null;

    /// <summary>The base model's architecture: a tuning spec's with no runs, so equal setups give equal configs and one cached base.</summary>
    private static Model.GptConfig Config(CompletionSetup setup, Profile profile) =>
        setup.Model.Config(setup.Pretrain.Task, setup.Model.PrefixSize.For(profile), profile);
}
