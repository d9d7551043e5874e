using System.Globalization;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Tuning;

namespace PrefixLab.Experiments;

/// <summary>The base model of a tuning experiment (paper.md §3's minGPT), sized per profile.</summary>
/// <param name="Layers">Blocks.</param>
/// <param name="Heads">Heads per block.</param>
/// <param name="Width">Embedding width.</param>
/// <param name="PrefixSize">Padding positions in front of every input during pretraining.</param>
/// <param name="AttnLayernorm">Whether a LayerNorm precedes attention (notebook 02: no).</param>
public sealed record ModelSetup(Sized<int> Layers, Sized<int> Heads, Sized<int> Width, Sized<int> PrefixSize, bool AttnLayernorm = true)
{
    /// <summary>
    /// The architecture under <paramref name="profile"/>: the pretraining task's vocabulary (the digit
    /// tasks share one, so a digit model can be tuned on any of them), and a block that fits
    /// <paramref name="pretrainTask"/> behind <paramref name="prefixSize"/> padding positions.
    /// </summary>
    public GptConfig Config(string pretrainTask, int prefixSize, Profile profile)
    {
        var task = TaskRegistry.Default.Get(pretrainTask);
        int vocab = TaskRegistry.Default.VocabularyOf(task);
        return new GptConfig(vocab, SequenceLayout.For(task, prefixSize).ContextLength, Layers.For(profile), Heads.For(profile), Width.For(profile), AttnLayerNorm: AttnLayernorm).Validate();
    }
}

/// <summary>Pretraining of the base model: a fresh model trained on one task.</summary>
/// <param name="Task">The task (e.g. <c>random</c>).</param>
/// <param name="Steps">Training steps.</param>
/// <param name="Lr">Learning rate (default the paper's 5e-4).</param>
public sealed record PretrainSetup(string Task, Sized<int> Steps, Sized<double>? Lr = null)
{
    /// <summary>The learning rate under <paramref name="profile"/>: the paper's 5e-4 unless the spec sets one.</summary>
    public double LrFor(Profile profile) => Lr?.For(profile) ?? 5e-4;

    /// <summary>The base model in one line of the report: <paramref name="config"/> and its pretraining under <paramref name="profile"/>.</summary>
    public string Describe(GptConfig config, Profile profile) =>
        string.Create(CultureInfo.InvariantCulture, $"base model: {config.Layers} layer(s), {config.Heads} head(s), width {config.Width}, block {config.BlockSize}, pretrained {Steps.For(profile)} steps on {Task}");
}

/// <summary>One tuning run from the base model.</summary>
/// <param name="Name">Its name in metric names (e.g. <c>prefix-descending</c>).</param>
/// <param name="Method">A method of <see cref="TuningMethods"/>.</param>
/// <param name="Task">The task it is trained on.</param>
/// <param name="Steps">Training steps.</param>
/// <param name="Lr">Learning rate (default: the method's paper default).</param>
/// <param name="PrefixSize">Prefix vectors or virtual tokens (default: the model's padding positions).</param>
/// <param name="Rank">LoRA rank.</param>
/// <param name="Targets">LoRA targets (default <c>c_fc</c>, <c>c_proj</c>).</param>
/// <param name="Profiles">The profiles that run it (default: all); the quick profile drops runs it cannot afford.</param>
/// <param name="InitStd">Standard deviation of the initial prefix or soft-prompt vectors (default the paper's 1).</param>
public sealed record RunSetup(string Name, string Method, string Task, Sized<int> Steps, Sized<double>? Lr = null, Sized<int>? PrefixSize = null, int Rank = 1, IReadOnlyList<string>? Targets = null, IReadOnlyList<string>? Profiles = null, Sized<double>? InitStd = null)
{
    /// <summary>Whether <paramref name="profile"/> runs it.</summary>
    public bool RunsIn(Profile profile) => Profiles is null || Profiles.Contains(profile.Name);
}

/// <summary>
/// The setup of a <c>tuning</c> spec (notebooks 01–04): pretrain a base, run tuning methods from it,
/// score the base and every run on the <see cref="Evaluate"/> tasks, and take the measurements named
/// in <see cref="Measure"/>: <c>identities</c> (C2, C3 errors of each context method), <c>spread</c>
/// (how many prefix positions attention uses, C6) and <c>shift</c> (how far a short full fine-tuning
/// on each tuned task moves the content attention).
/// </summary>
/// <param name="Model">The base model.</param>
/// <param name="Pretrain">Its pretraining.</param>
/// <param name="Runs">The tuning runs.</param>
/// <param name="Evaluate">Tasks every model is scored on.</param>
/// <param name="Measure">Extra measurements.</param>
/// <param name="ShiftSteps">Steps of the short full fine-tuning behind <c>shift</c>.</param>
/// <param name="Precision">
/// The matrix products of all its training, <c>f32</c> (the default) or <c>bf16</c>
/// (<see cref="PrefixLab.Model.Precision"/>); evaluation and the measurements run in float32 either way.
/// </param>
public sealed record TuningSetup(ModelSetup Model, PretrainSetup Pretrain, IReadOnlyList<RunSetup> Runs, IReadOnlyList<string> Evaluate, IReadOnlyList<string>? Measure = null, Sized<int>? ShiftSteps = null, string? Precision = null)
{
    /// <summary>The training's product type (<see cref="Precision"/> read; checked by <see cref="Of"/>).</summary>
    public PrefixLab.Model.Precision TrainingPrecision => Precision is null ? PrefixLab.Model.Precision.F32 : Precisions.Parse(Precision, "setup");

    /// <summary>The measurements <see cref="Measure"/> may name.</summary>
    public static IReadOnlyList<string> Measurements { get; } = ["identities", "spread", "shift"];

    /// <summary>The runs <paramref name="profile"/> performs.</summary>
    public IReadOnlyList<RunSetup> RunsFor(Profile profile) => [.. Runs.Where(r => r.RunsIn(profile))];

    /// <summary>Whether <paramref name="measurement"/> is asked for.</summary>
    public bool Measures(string measurement) => Measure?.Contains(measurement) == true;

    /// <summary>Reads and checks the setup of <paramref name="spec"/>.</summary>
    public static TuningSetup Of(ExperimentSpec spec)
    {
        var setup = spec.SetupAs<TuningSetup>();
        string where = $"spec '{spec.Name}'";
        // JSON can leave non-nullable members null; object? sees them as JSON does.
        object?[] parts = [setup.Model, setup.Pretrain, setup.Runs, setup.Evaluate];
        PrefixLabException.Check(parts.All(p => p is not null), $"{where}: a tuning setup needs model, pretrain, runs and evaluate");
        TaskRegistry.Default.Get(setup.Pretrain.Task);
        foreach (var task in setup.Evaluate)
        {
            TaskRegistry.Default.Get(task);
        }
        foreach (var run in setup.Runs)
        {
            PrefixLabException.Check(run.Name is { Length: > 0 } && run.Name != "pretrained" && !run.Name.Contains('/'), $"{where}: run names must be non-empty, without '/', and not 'pretrained'");
            PrefixLabException.Check(TuningMethods.Names.Contains(run.Method, StringComparer.OrdinalIgnoreCase), $"{where}: run '{run.Name}' has unknown method '{run.Method}'");
            TaskRegistry.Default.Get(run.Task);
            PrefixLabException.Check(run.Steps is not null, $"{where}: run '{run.Name}' needs steps");
            var profile = run.Profiles?.FirstOrDefault(p => Profiles.All.All(known => known.Name != p));
            PrefixLabException.Check(profile is null, $"{where}: run '{run.Name}' names unknown profile '{profile}'");
        }
        PrefixLabException.Check(setup.Runs.Select(r => r.Name).Distinct().Count() == setup.Runs.Count, $"{where}: two runs share a name");
        var unknown = setup.Measure?.FirstOrDefault(m => !Measurements.Contains(m));
        PrefixLabException.Check(unknown is null, $"{where}: unknown measurement '{unknown}' (known: {string.Join(", ", Measurements)})");
        PrefixLabException.Check(!setup.Measures("shift") || setup.ShiftSteps is not null, $"{where}: 'shift' needs shift_steps");
        PrefixLabException.Check(setup.Precision is null || Precisions.All.Any(p => p.Name == setup.Precision), $"{where}: precision must be f32 or bf16 (got '{setup.Precision}')");
        return setup;
    }

    /// <summary>The base model's architecture under <paramref name="profile"/>; the block fits the longest prefix of any run.</summary>
    public GptConfig Config(Profile profile)
    {
        int longest = RunsFor(profile).Select(r => RunPrefix(r, profile)).Append(Model.PrefixSize.For(profile)).Max();
        return Model.Config(Pretrain.Task, longest, profile);
    }

    /// <summary>The prefix size of <paramref name="run"/> under <paramref name="profile"/>.</summary>
    public int RunPrefix(RunSetup run, Profile profile) => (run.PrefixSize ?? Model.PrefixSize).For(profile);

    /// <summary>
    /// The metrics a run under <paramref name="profile"/> produces (<see cref="TuningRunner"/> names them):
    /// accuracies over the profile's test samples, parameter counts, and the measurements asked for.
    /// </summary>
    public IReadOnlyList<MetricName> Metrics(Profile profile)
    {
        int samples = profile.EvalSamples;
        var names = new List<MetricName>(Evaluate.Select(t => new MetricName($"pretrained/{t}", samples)));
        foreach (var run in RunsFor(profile))
        {
            names.AddRange(Evaluate.Append(run.Task).Distinct().Select(t => new MetricName($"{run.Name}/{t}", samples)));
            names.Add(new($"{run.Name}/params"));
            if (TuningRunner.IsContextMethod(run.Method))
            {
                string[] measured = [.. (Measures("identities") ? new[] { "identity-layer0", "identity-bias" } : []),
                                     .. (Measures("spread") ? new[] { "spread", "spread-share", "spread-last-input", "spread-last-input-share", "spread-last-input-share-untrained" } : [])];
                names.AddRange(measured.Select(m => new MetricName($"{run.Name}/{m}")));
            }
        }
        var tuned = TuningRunner.TunedTasks(this, profile);
        names.AddRange(tuned.Select(t => new MetricName($"context/{t}", samples)));
        if (Measures("shift"))
        {
            names.AddRange(tuned.Select(t => new MetricName($"shift/{t}")));
        }
        return names;
    }

    /// <summary>
    /// The settings a run under <paramref name="profile"/> uses, by the names a spec's protocol gives the
    /// paper's: <c>model/…</c>, <c>pretrain/…</c>, <c>evaluation/test-samples</c> and per run
    /// <c>RUN/steps</c>, <c>RUN/lr</c> (when the spec sets one), <c>RUN/init-std</c> and
    /// <c>RUN/prefix-size</c> (context methods) and <c>RUN/rank</c> (LoRA).
    /// </summary>
    public IReadOnlyDictionary<string, double> Settings(Profile profile)
    {
        var settings = new Dictionary<string, double>
        {
            ["model/layers"] = Model.Layers.For(profile),
            ["model/heads"] = Model.Heads.For(profile),
            ["model/width"] = Model.Width.For(profile),
            ["model/prefix-size"] = Model.PrefixSize.For(profile),
            ["pretrain/steps"] = Pretrain.Steps.For(profile),
            ["pretrain/lr"] = Pretrain.LrFor(profile),
            ["evaluation/test-samples"] = profile.EvalSamples,
        };
        foreach (var run in RunsFor(profile))
        {
            settings[$"{run.Name}/steps"] = run.Steps.For(profile);
            if (run.Lr is { } lr)
            {
                settings[$"{run.Name}/lr"] = lr.For(profile);
            }
            if (TuningRunner.MethodSettings(this, run, profile) is PromptSettings prompt)
            {
                settings[$"{run.Name}/init-std"] = prompt.InitStd;
                settings[$"{run.Name}/prefix-size"] = RunPrefix(run, profile);
            }
            if (run.Method.Equals(Lora.Kind.Name, StringComparison.OrdinalIgnoreCase))
            {
                settings[$"{run.Name}/rank"] = run.Rank;
            }
        }
        return settings;
    }

    /// <summary>
    /// For every two runs of different methods on one task, each with its steps in the paper's protocol:
    /// the ratio of their steps under <paramref name="profile"/> where it is not the paper's.
    /// </summary>
    public IReadOnlyList<string> StepRatios(IReadOnlyDictionary<string, double> protocol, Profile profile)
    {
        var lines = new List<string>();
        var runs = RunsFor(profile).Where(r => protocol.ContainsKey($"{r.Name}/steps")).ToList();
        foreach (var (a, b) in runs.SelectMany((a, i) => runs.Skip(i + 1).Where(b => b.Task == a.Task && b.Method != a.Method).Select(b => (a, b))))
        {
            double ours = a.Steps.For(profile) / (double)b.Steps.For(profile);
            double paper = protocol[$"{a.Name}/steps"] / protocol[$"{b.Name}/steps"];
            if (Math.Abs(ours - paper) > 1e-9 * paper)
            {
                lines.Add($"step ratio {a.Name} : {b.Name}: {Declarations.Number(ours)} (paper {Declarations.Number(paper)})");
            }
        }
        return lines;
    }
}
