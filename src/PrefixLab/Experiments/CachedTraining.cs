using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Experiments;

/// <summary>A model or adapter file in the cache, with the key that names it.</summary>
/// <param name="Key">Hash of everything that determines it.</param>
/// <param name="Path">The file.</param>
/// <param name="Trained">Whether this call trained it (false: it came from the cache).</param>
public sealed record CachedFile(string Key, string Path, bool Trained);

/// <summary>
/// Trains base models and tuning runs through the one training loop, unless the cache already has
/// them. The key of a file hashes everything that determines it (architecture, task, steps, learning
/// rate, weight decay, batch, seed, method settings, and for a run the base's key), so a changed spec
/// never reuses a stale file. Training checkpoints beside the file, so a killed run resumes mid-way.
/// </summary>
/// <param name="context">The seed, cache and progress display.</param>
/// <param name="precision">The type of the matrix products of everything it trains (<see cref="Precision"/>).</param>
public sealed class CachedTraining(RunContext context, Precision precision = Precision.F32)
{
    private const int CheckpointInterval = 500;

    /// <summary>The key of the base model <see cref="Base(GptConfig, int, ITask, int, double)"/> trains (batch 64, the paper's, is part of it).</summary>
    public static string BaseKey(GptConfig config, int prefixSize, string task, int steps, double lr, ulong seed, Precision precision = Precision.F32) =>
        ResultCache.Key(Identity(new { kind = "base", config, prefix_size = prefixSize, task, steps, lr, batch = 64, weight_decay = PretrainWorkflow.PaperWeightDecay, seed }, precision));

    /// <summary>
    /// A file's identity with the precision it was trained in: only bf16 adds it, so the keys (and the
    /// cached files) of float32 training stay what they were.
    /// </summary>
    private static object Identity(object identity, Precision precision) =>
        precision == Precision.F32 ? identity : new { identity, precision = precision.Name() };

    /// <summary>
    /// The key of the base model a spec's <paramref name="model"/> and <paramref name="pretrain"/> give
    /// under <paramref name="profile"/> with architecture <paramref name="config"/>: every runner that
    /// pretrains from a spec goes through here, so specs that state the same base share one file.
    /// </summary>
    public static string BaseKey(GptConfig config, ModelSetup model, PretrainSetup pretrain, Profile profile, ulong seed, Precision precision = Precision.F32) =>
        BaseKey(config, model.PrefixSize.For(profile), pretrain.Task, pretrain.Steps.For(profile), pretrain.LrFor(profile), seed, precision);

    /// <summary>The key of the run <see cref="Run"/> trains.</summary>
    public static string RunKey(string baseKey, string method, TuningSettings settings, string task, int steps, double? lr, ulong seed, Precision precision = Precision.F32) =>
        ResultCache.Key(Identity(TuningMethods.Identity(new { kind = "run", base_key = baseKey, method, settings, task, steps, lr, seed }, method, settings), precision));

    /// <summary>The base model: <paramref name="config"/> pretrained on <paramref name="task"/>.</summary>
    public CachedFile Base(GptConfig config, int prefixSize, ITask task, int steps, double lr)
    {
        string key = BaseKey(config, prefixSize, task.Name, steps, lr, context.Seed, precision);
        string path = context.Cache.PathOf("models", key, ".safetensors");
        using var held = Lock(key, path, $"pretrain {task.Name}");
        if (held is null)
        {
            return new CachedFile(key, path, false);
        }
        var options = WithCheckpoints(new TrainOptions { Iterations = steps, LearningRate = lr, Seed = context.Seed, Precision = precision }, path);
        PretrainWorkflow.Run(new PretrainRequest(config, task, prefixSize, options, path), Progress($"pretrain {task.Name}"));
        DeleteCheckpoint(path);
        return new CachedFile(key, path, true);
    }

    /// <summary>The base model of <see cref="BaseKey(GptConfig, ModelSetup, PretrainSetup, Profile, ulong, Precision)"/>.</summary>
    public CachedFile Base(GptConfig config, ModelSetup model, PretrainSetup pretrain) =>
        Base(config, model.PrefixSize.For(context.Profile), TaskRegistry.Default.Get(pretrain.Task), pretrain.Steps.For(context.Profile), pretrain.LrFor(context.Profile));

    /// <summary>
    /// A tuning run of <paramref name="method"/> from <paramref name="baseFile"/> on <paramref name="task"/>:
    /// an adapter file, or a model file for full fine-tuning. A null <paramref name="lr"/> is the method's default.
    /// </summary>
    public CachedFile Run(CachedFile baseFile, string method, TuningSettings settings, ITask task, int steps, double? lr, string label)
    {
        string key = RunKey(baseFile.Key, method, settings, task.Name, steps, lr, context.Seed, precision);
        string path = context.Cache.PathOf("runs", key, ".safetensors");
        using var held = Lock(key, path, label);
        if (held is null)
        {
            return new CachedFile(key, path, false);
        }
        var (model, info) = ModelFile.Load(baseFile.Path);
        using var _ = model;
        using var tuning = TuneWorkflow.Attach(model, info, method, settings, context.Seed);
        tuning.Run(new TuneRequest(TaskData.Of(task), WithCheckpoints(tuning.Options(steps, lr) with { Precision = precision }, path), path), Progress(label));
        DeleteCheckpoint(path);
        return new CachedFile(key, path, true);
    }

    /// <summary>
    /// <paramref name="options"/> checkpointing beside the file at <paramref name="path"/> and resuming
    /// from such a checkpoint, so a killed reproduction goes on where it stopped.
    /// </summary>
    internal static TrainOptions WithCheckpoints(TrainOptions options, string path) => options with
    {
        CheckpointPath = Checkpoint(path),
        CheckpointEvery = CheckpointInterval,
        Resume = true,
    };

    /// <summary>
    /// The lock on training <paramref name="key"/>, or null when its file at <paramref name="path"/> is in
    /// the cache, also when another worker finished it while this one waited for the lock.
    /// </summary>
    private UnitLock? Lock(string key, string path, string label)
    {
        if (File.Exists(path))
        {
            return null;
        }
        var held = UnitLock.Acquire(context.Cache.Root, key, holder => context.Report($"{label}: waiting for {holder}, which trains it", null));
        if (File.Exists(path))
        {
            held.Dispose();
            return null;
        }
        return held;
    }

    /// <summary>A workflow's reports as this run's progress under <paramref name="label"/> (the workflow's description goes unshown).</summary>
    internal Action<string, TrainingProgress?> Progress(string label) => (_, step) => context.Report(label, step);

    private static string Checkpoint(string path) => Path.ChangeExtension(path, ".ckpt.safetensors");

    /// <summary>Removes the training checkpoint of the file at <paramref name="path"/> once the file is saved.</summary>
    internal static void DeleteCheckpoint(string path) => File.Delete(Checkpoint(path));
}
