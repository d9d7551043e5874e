using PrefixLab.Analysis;
using PrefixLab.Evaluation;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Tuning;
using PrefixLab.Workflows;

namespace PrefixLab.Experiments;

/// <summary>
/// Runs <c>tuning</c> specs (notebooks 01–04, the identity checks): pretrain a base model, run each
/// tuning method from it, score everything, and measure identities, prefix spread and attention shift.
/// Metric names: <c>pretrained/TASK</c> and <c>RUN/TASK</c> (accuracy in percent), <c>RUN/params</c>,
/// <c>RUN/identity-layer0</c> and <c>RUN/identity-bias</c> (C2, C3 errors), <c>RUN/spread</c> and
/// <c>RUN/spread-share</c> (prefix positions every content query uses, C6) and the same for the last input
/// token alone (<c>RUN/spread-last-input</c>, <c>RUN/spread-last-input-share</c>, and for the untrained prefix as a control
/// <c>RUN/spread-last-input-share-untrained</c>), <c>context/TASK</c> (the best context method's
/// accuracy on a task it was tuned on) and <c>shift/TASK</c> (content-attention shift).
/// </summary>
public sealed class TuningRunner : IExperimentRunner
{
    /// <summary>The spec kind it runs.</summary>
    public const string KindName = "tuning";

    /// <inheritdoc />
    public string Kind => KindName;

    /// <inheritdoc />
    public int Version => 1;

    /// <summary>Whether <paramref name="method"/> puts vectors in front of the content.</summary>
    public static bool IsContextMethod(string method) => TuningMethods.IsContext(method);

    /// <inheritdoc />
    public void Validate(ExperimentSpec spec)
    {
        var setup = TuningSetup.Of(spec);
        foreach (var profile in Profiles.All)
        {
            setup.Config(profile);
        }
    }

    /// <inheritdoc />
    /// <remarks>The paper's settings this profile runs differently, and the step ratios of methods compared on one task.</remarks>
    public IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile) =>
        [.. Declarations.Deviations(spec, profile), .. TuningSetup.Of(spec).StepRatios(spec.Protocol, profile)];

    /// <summary>The metrics <see cref="Run"/> returns for <paramref name="spec"/> under <paramref name="profile"/>.</summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile) => TuningSetup.Of(spec).Metrics(profile);

    /// <summary>The settings <see cref="Run"/> uses for <paramref name="spec"/> under <paramref name="profile"/>.</summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile) => TuningSetup.Of(spec).Settings(profile);

    /// <inheritdoc />
    public IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed)
    {
        var setup = TuningSetup.Of(spec);
        var config = setup.Config(profile);
        double step = SpeedModel.SecondsPerStep(config);
        var precision = setup.TrainingPrecision;
        string baseKey = CachedTraining.BaseKey(config, setup.Model, setup.Pretrain, profile, seed, precision);
        var items = new List<WorkItem> { new(baseKey, setup.Pretrain.Steps.For(profile) * step) { Label = $"pretrain {setup.Pretrain.Task}", Trainable = true } };
        items.AddRange(Tunings(setup, profile, baseKey, seed).Select(t => new WorkItem(t.Key, t.Steps * step) { Label = t.Label, Trainable = true, After = baseKey }));
        long evaluations = (long)(setup.RunsFor(profile).Count + 1) * setup.Evaluate.Count * profile.EvalSamples;
        items.Add(new($"{spec.Name}/evaluation/{seed}", evaluations * SpeedModel.SecondsPerSample(config)) { Label = "evaluation and analyses" });
        return items;
    }

    /// <inheritdoc />
    public void Train(ExperimentSpec spec, RunContext context, string key)
    {
        var setup = TuningSetup.Of(spec);
        var config = setup.Config(context.Profile);
        var training = new CachedTraining(context, setup.TrainingPrecision);
        var baseFile = training.Base(config, setup.Model, setup.Pretrain);
        if (key == baseFile.Key)
        {
            return;
        }
        var tuning = Tunings(setup, context.Profile, baseFile.Key, context.Seed).FirstOrDefault(t => t.Key == key)
            ?? throw new PrefixLabException($"spec '{spec.Name}' has no training '{key}' for seed {context.Seed}");
        Train(training, baseFile, tuning);
    }

    /// <inheritdoc />
    public SeedResult Run(ExperimentSpec spec, RunContext context)
    {
        var setup = TuningSetup.Of(spec);
        var profile = context.Profile;
        var training = new CachedTraining(context, setup.TrainingPrecision);
        var metrics = new Dictionary<string, double>();
        var notes = new List<string>();
        var config = setup.Config(profile);
        var baseFile = training.Base(config, setup.Model, setup.Pretrain);
        Score(context, baseFile.Path, null, "pretrained", setup.Evaluate, metrics);

        var tunings = Tunings(setup, profile, baseFile.Key, context.Seed);
        foreach (var (run, tuning) in setup.RunsFor(profile).Zip(tunings))
        {
            var file = Train(training, baseFile, tuning);
            Score(context, baseFile.Path, file.Path, run.Name, [.. setup.Evaluate.Append(run.Task).Distinct()], metrics);
            using var adapted = AdaptedModel.Load(baseFile.Path, file.Path);
            metrics[$"{run.Name}/params"] = adapted.Method?.ParameterCount ?? adapted.Model.Module.parameters().Sum(p => p.numel());
            if (IsContextMethod(run.Method) && (setup.Measures("identities") || setup.Measures("spread")))
            {
                context.Report($"analysing {run.Name}", null);
                Analyse(setup, context, baseFile.Path, adapted, run, metrics);
            }
        }
        foreach (var task in TunedTasks(setup, profile))
        {
            metrics[$"context/{task}"] = setup.RunsFor(profile).Where(r => IsContextMethod(r.Method) && r.Task == task).Max(r => metrics[$"{r.Name}/{task}"]);
        }
        if (setup.Measures("shift"))
        {
            foreach (var (task, tuning) in TunedTasks(setup, profile).Zip(tunings.Skip(setup.RunsFor(profile).Count)))
            {
                var file = Train(training, baseFile, tuning);
                metrics[$"shift/{task}"] = Shift(context, baseFile.Path, file.Path, task);
            }
        }
        notes.Add(setup.Pretrain.Describe(config, profile));
        if (setup.TrainingPrecision != Precision.F32)
        {
            notes.Add($"training products in {setup.TrainingPrecision.Name()} (weights, optimiser state, softmax, LayerNorm and loss float32; evaluation float32)");
        }
        return new SeedResult(metrics, notes);
    }

    /// <summary>The tasks a context method is tuned on, whose attention shift the report relates to the prefix's accuracy.</summary>
    public static IReadOnlyList<string> TunedTasks(TuningSetup setup, Profile profile) =>
        [.. setup.RunsFor(profile).Where(r => IsContextMethod(r.Method)).Select(r => r.Task).Distinct()];

    /// <summary>
    /// The tuning runs of one seed from the base <paramref name="baseKey"/>: the spec's runs in order, then
    /// the attention-shift fine-tunings, one per tuned task. <see cref="Plan"/>, <see cref="Run"/> and
    /// <see cref="Train(ExperimentSpec, RunContext, string)"/> all read them here, so their keys agree.
    /// </summary>
    private static List<Tuning> Tunings(TuningSetup setup, Profile profile, string baseKey, ulong seed)
    {
        var tunings = setup.RunsFor(profile).Select(run => new Tuning(run.Method, MethodSettings(setup, run, profile), run.Task, run.Steps.For(profile), run.Lr?.For(profile), $"{run.Method} on {run.Task}")).ToList();
        if (setup.Measures("shift"))
        {
            tunings.AddRange(TunedTasks(setup, profile).Select(task => new Tuning(FullFineTune.Kind.Name, FullFineTune.Kind.Defaults, task, setup.ShiftSteps!.For(profile), null, $"attention shift: full on {task}")));
        }
        return [.. tunings.Select(t => t with { Key = CachedTraining.RunKey(baseKey, t.Method, t.Settings, t.Task, t.Steps, t.Lr, seed, setup.TrainingPrecision) })];
    }

    private static CachedFile Train(CachedTraining training, CachedFile baseFile, Tuning t) =>
        training.Run(baseFile, t.Method, t.Settings, TaskRegistry.Default.Get(t.Task), t.Steps, t.Lr, t.Label);

    /// <summary>One tuning run of a seed, with its cache key.</summary>
    private sealed record Tuning(string Method, TuningSettings Settings, string Task, int Steps, double? Lr, string Label)
    {
        public string Key { get; init; } = "";
    }

    /// <summary>The method settings <paramref name="run"/> trains with under <paramref name="profile"/>.</summary>
    internal static TuningSettings MethodSettings(TuningSetup setup, RunSetup run, Profile profile)
    {
        // The spec's fields by the knobs' names; each method takes the knobs it has. Left out, a setting
        // keeps the method's default (the targets c_fc, c_proj; the paper's N(0, 1)).
        var values = new Dictionary<string, object> { ["prefix-size"] = setup.RunPrefix(run, profile), ["rank"] = run.Rank };
        if (run.Targets is { } targets)
        {
            values["targets"] = targets.ToArray();
        }
        if (run.InitStd is { } std)
        {
            values["init-std"] = std.For(profile);
        }
        return TuningMethods.Get(run.Method).Settings(values, setup.RunPrefix(run, profile));
    }

    private static void Score(RunContext context, string basePath, string? runPath, string name, IReadOnlyList<string> tasks, Dictionary<string, double> metrics)
    {
        var request = new EvaluateRequest(basePath, [.. tasks.Select(t => TaskData.Of(TaskRegistry.Default.Get(t)))]) { Adapter = runPath, Samples = context.Profile.EvalSamples };
        foreach (var result in EvaluateWorkflow.Run(request, task => context.Report($"evaluating {name} on {task}", null)))
        {
            metrics[$"{name}/{result.Task}"] = 100 * result.Accuracy;
        }
    }

    private static void Analyse(TuningSetup setup, RunContext context, string basePath, AdaptedModel adapted, RunSetup run, Dictionary<string, double> metrics)
    {
        var geometry = PrefixGeometry.Of(adapted.Method);
        using var tokens = Sequences(adapted, run.Task, context.Profile);
        // One recording of the adapted model serves both measurements.
        using var recording = AttentionRecorder.Record(adapted.Model, tokens);
        if (setup.Measures("identities"))
        {
            using var plain = AdaptedModel.Load(basePath, null);
            using var plainRecording = AttentionRecorder.Record(plain.Model, tokens, geometry.PositionShift);
            var checks = PrefixIdentities.Compare(recording, plainRecording, geometry);
            metrics[$"{run.Name}/identity-layer0"] = checks.Where(c => c.Layer == 0).Max(c => c.ContentAttentionError);
            metrics[$"{run.Name}/identity-bias"] = checks.Max(c => c.BiasedMixError ?? 0);
        }
        if (setup.Measures("spread"))
        {
            // Every content query, and, as the paper's appendix reads it, the last input token alone.
            int lastInput = SequenceLayout.For(TaskRegistry.Default.Get(run.Task), adapted.PrefixSize).PromptLength - 1;
            foreach (var (suffix, row) in new[] { ("", (int?)null), ("-last-input", lastInput) })
            {
                double spread = BiasSpan.Measure(recording, geometry, row).Average(h => h.EffectivePositions);
                metrics[$"{run.Name}/spread{suffix}"] = spread;
                metrics[$"{run.Name}/spread{suffix}-share"] = spread / geometry.Size;
            }
            // Control: the same prefix before training (the vectors its training started from, drawn from
            // the same seed) on the same sequences, so the trained spread is set against what random vectors give.
            using var plain = AdaptedModel.Load(basePath, null);
            using var untrained = TuningMethods.Create(run.Method, plain.Model, MethodSettings(setup, run, context.Profile), context.Seed);
            using var control = AttentionRecorder.Record(plain.Model, tokens);
            metrics[$"{run.Name}/spread-last-input-share-untrained"] = BiasSpan.Measure(control, geometry, lastInput).Average(h => h.EffectivePositions) / geometry.Size;
        }
    }

    /// <summary>Mean over layers and heads of the mean total-variation shift of the content attention.</summary>
    private static double Shift(RunContext context, string basePath, string tunedPath, string task)
    {
        context.Report($"attention shift on {task}", null);
        using var tuned = AdaptedModel.Load(basePath, tunedPath);
        using var plain = AdaptedModel.Load(basePath, null);
        using var tokens = Sequences(tuned, task, context.Profile);
        return PrefixIdentities.Check(tuned.Model, plain.Model, PrefixGeometry.None, tokens).Average(c => c.Shift.TvMean);
    }

    private static TorchSharp.torch.Tensor Sequences(AdaptedModel model, string task, Profile profile)
    {
        var inputs = TestSet.Draw(TaskRegistry.Default.Get(task), profile.AnalysisSamples, 0).Inputs;
        return AnalysisInputs.Sequences(model.Model, model.PrefixSize, inputs, SequenceLayout.For(TaskRegistry.Default.Get(task), 0).OutputLength);
    }
}

/// <summary>
/// Rough time per training step and per evaluated sample on this project's 2-core machine alone: a
/// constant plus a term in layers × width² × positions, fitted to the notebook-01 model (1 layer, width
/// 96, 20 positions: 15 ms a step) and the notebook-03 model (4 layers, width 256, 29 positions: 340 ms
/// a step, 430 samples/s greedy); it puts the notebook-02 model at 65 ms (measured about 55 ms). Only
/// for estimates and the ETA.
/// </summary>
public static class SpeedModel
{
    /// <summary>Seconds per training step of <paramref name="config"/> at batch 64.</summary>
    public static double SecondsPerStep(GptConfig config) => 0.0073 + (4.4e-8 * config.Layers * config.Width * (double)config.Width * config.BlockSize);

    /// <summary>Seconds per greedily decoded test sample.</summary>
    public static double SecondsPerSample(GptConfig config) => 0.0001 + (8.5e-9 * config.Layers * config.Width * (double)config.Width);
}
