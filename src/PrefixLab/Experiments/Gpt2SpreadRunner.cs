using System.Globalization;
using System.Security.Cryptography;
using PrefixLab.Analysis;
using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using PrefixLab.Workflows;

namespace PrefixLab.Experiments;

/// <summary>The setup of a <c>gpt2-prefix-spread</c> spec.</summary>
/// <param name="PrefixSize">P (the paper's appendix: 10).</param>
/// <param name="Method">The prefix method (default <c>prefix-kv</c>, Li and Liang's form, as PEFT trains GPT-2).</param>
/// <param name="Steps">Training steps of the prefix.</param>
/// <param name="Lr">Its learning rate (default: the method's).</param>
/// <param name="Batch">Examples per step.</param>
/// <param name="Samples">Test examples whose last input token is read (default: the profile's analysis samples).</param>
public sealed record Gpt2SpreadSetup(int PrefixSize, string? Method = null, Sized<int>? Steps = null, Sized<double>? Lr = null, int Batch = 8, int? Samples = null)
{
    /// <summary>The method's name.</summary>
    public string MethodName => Method ?? PrefixKv.Kind.Name;
}

/// <summary>
/// Runs <c>gpt2-prefix-spread</c> specs (claim C6, the paper's appendix) on a GPT-2 checkpoint and a text
/// classification file the user names (<c>reproduce --gpt2 DIR --text-data FILE</c>; nothing is
/// downloaded): train a length-P prefix on the task, then read, per layer and head, how evenly the last
/// input token (the one that predicts the label) attends over the P prefix positions. Metrics:
/// <c>spread</c> (mean effective number of prefix positions, exp of the entropy), <c>spread-share</c>
/// (that over P), <c>layer-L/spread-share</c>, <c>prefix-mass</c> (mean attention on the prefix) and
/// <c>accuracy</c> (percent of the test examples labelled right).
/// </summary>
/// <param name="modelDirectory">A Hugging Face GPT-2 directory (config.json, safetensors, vocab.json and merges.txt or tokenizer.json).</param>
/// <param name="dataPath">The labelled texts (.jsonl or .csv, as <c>tune --data</c> reads them).</param>
public sealed class Gpt2SpreadRunner(string modelDirectory, string dataPath) : IExperimentRunner
{
    private readonly Lazy<string> inputsKey = new(() => FilesHash([dataPath, .. Directory.GetFiles(modelDirectory).Order(StringComparer.Ordinal)]));

    /// <summary>The spec kind it runs.</summary>
    public const string KindName = "gpt2-prefix-spread";

    /// <inheritdoc />
    public string Kind => KindName;

    /// <inheritdoc />
    public int Version => 1;

    /// <inheritdoc />
    /// <remarks>A hash of the data file and every file of the checkpoint directory (names and bytes).</remarks>
    public string InputsKey => inputsKey.Value;

    /// <inheritdoc />
    public void Validate(ExperimentSpec spec)
    {
        var setup = spec.SetupAs<Gpt2SpreadSetup>();
        PrefixLabException.Check(setup.PrefixSize >= 1, $"spec '{spec.Name}': prefix_size must be at least 1");
        PrefixLabException.Check(setup.Batch >= 1, $"spec '{spec.Name}': batch must be at least 1");
        PrefixLabException.Check(TuningMethods.Names.Contains(setup.MethodName, StringComparer.OrdinalIgnoreCase), $"spec '{spec.Name}': unknown method '{setup.MethodName}'");
        PrefixLabException.Check(HuggingFaceGpt2.IsCheckpoint(modelDirectory), $"'{modelDirectory}' is not a GPT-2 checkpoint directory (no config.json)");
        PrefixLabException.Check(File.Exists(dataPath), $"file not found: '{dataPath}'");
    }

    /// <inheritdoc />
    /// <remarks>The paper's settings this profile runs differently.</remarks>
    public IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile) => Declarations.Deviations(spec, profile);

    /// <summary>
    /// The metrics <see cref="Run"/> returns: the layers' names depend on the checkpoint, so they are a pattern.
    /// The accuracy is not given a binomial interval: how many test examples it is over depends on the data file.
    /// </summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile) =>
        [new("spread"), new("spread-share"), new("prefix-mass"), new("accuracy"), new("layer-{L}/spread-share")];

    /// <summary>The settings <see cref="Run"/> uses for <paramref name="spec"/> under <paramref name="profile"/>, by name.</summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile)
    {
        var setup = spec.SetupAs<Gpt2SpreadSetup>();
        var settings = new Dictionary<string, double> { ["prefix-size"] = setup.PrefixSize, ["batch"] = setup.Batch, ["steps"] = setup.Steps?.For(profile) ?? 0 };
        if (setup.Lr is { } lr)
        {
            settings["lr"] = lr.For(profile);
        }
        return settings;
    }

    /// <inheritdoc />
    public IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed)
    {
        var setup = spec.SetupAs<Gpt2SpreadSetup>();
        var config = HuggingFaceGpt2.ReadConfig(modelDirectory);
        // A step of `batch` rows instead of 64, of up to a block of positions.
        double step = SpeedModel.SecondsPerStep(config) * Math.Max(setup.Batch / 64.0, 0.1);
        return [new($"{spec.Name}/{seed}", (setup.Steps?.For(profile) ?? 0) * step)];
    }

    /// <inheritdoc />
    public SeedResult Run(ExperimentSpec spec, RunContext context)
    {
        var setup = spec.SetupAs<Gpt2SpreadSetup>();
        var (model, info) = HuggingFaceGpt2.Load(modelDirectory);
        using var _ = model;
        model.eval();
        var tokenizer = Gpt2Tokenizer.Load(modelDirectory);
        tokenizer.CheckFits(model.Config.VocabSize);
        var settings = TuningMethods.Get(setup.MethodName).Settings(new Dictionary<string, object> { [ContextKnobs.PrefixSize.Name] = setup.PrefixSize });
        int steps = setup.Steps?.For(context.Profile) ?? 0;
        double? lr = setup.Lr?.For(context.Profile); // null: the method's default
        string fingerprint = AdapterFile.Fingerprint(model);
        string key = ResultCache.Key(TuningMethods.Identity(new { kind = "gpt2-spread", inputs = InputsKey, method = setup.MethodName, settings, steps, lr, batch = setup.Batch, seed = context.Seed }, setup.MethodName, settings));
        string path = context.Cache.PathOf("runs", key, ".safetensors");
        bool cached = File.Exists(path);
        var data = TaskData.Of(TextTask.Load(dataPath), tokenizer.Encode);
        using var tuning = cached ? null : TuneWorkflow.Attach(model, info, setup.MethodName, settings, context.Seed);
        using var loaded = cached ? AdapterFile.Load(path, model, fingerprint).Method : null;
        var method = tuning?.Method ?? loaded!;
        if (tuning is not null && steps > 0)
        {
            var options = tuning.Options(steps, lr) with { BatchSize = setup.Batch, LogEvery = Math.Max(1, steps / 10) };
            var training = new CachedTraining(context);
            tuning.Run(new TuneRequest(data, CachedTraining.WithCheckpoints(options, path), path), training.Progress($"{setup.MethodName} on {data.Name}"));
            CachedTraining.DeleteCheckpoint(path);
        }
        var samples = data.Samples(method.InputPadding(info.PrefixSize));

        context.Report("attention of the last input token over the prefix", null);
        var geometry = PrefixGeometry.Of(method);
        var test = samples.Test.Take(setup.Samples ?? context.Profile.AnalysisSamples).ToList();
        PrefixLabException.Check(test.Count > 0, $"'{dataPath}' has no test examples");
        // Prompts differ in length, so each is read alone at its own last row.
        var heads = test.SelectMany(sample =>
        {
            using var tokens = samples.Prompts([sample]);
            return BiasSpan.Measure(model, geometry, tokens, (int)tokens.shape[1] - 1);
        }).ToList();
        var metrics = new Dictionary<string, double>
        {
            ["spread"] = heads.Average(h => h.EffectivePositions),
            ["spread-share"] = heads.Average(h => h.EffectivePositions) / setup.PrefixSize,
            ["prefix-mass"] = heads.Average(h => h.PrefixMass),
            ["accuracy"] = 100 * TextEvaluator.Evaluate(model, samples, setup.Samples ?? context.Profile.EvalSamples, setup.Batch).Accuracy,
        };
        foreach (var layer in heads.GroupBy(h => h.Layer))
        {
            metrics[$"layer-{layer.Key}/spread-share"] = layer.Average(h => h.EffectivePositions) / setup.PrefixSize;
        }
        var notes = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{setup.MethodName}, P = {setup.PrefixSize}, {steps:N0} steps on {samples.Train.Count:N0} training examples of '{dataPath}'; last input token read on {test.Count} test examples"),
        };
        return new SeedResult(metrics, notes);
    }

    /// <summary>SHA-256 over the names and bytes of <paramref name="paths"/>, in their order.</summary>
    internal static string FilesHash(IEnumerable<string> paths)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string path in paths)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(path) + "\n"));
            using var stream = File.OpenRead(path);
            byte[] buffer = new byte[1 << 20];
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
