using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Training;
using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Experiments;

/// <summary>The setup of a <c>llama-identities</c> or <c>llama-completions</c> spec.</summary>
/// <param name="VirtualTokens">Single virtual tokens trained (the paper's count: 48,218).</param>
/// <param name="Continuation">Tokens generated greedily after the token and the prompt (the paper: 10).</param>
/// <param name="Steps">Adam steps of each virtual token's training.</param>
/// <param name="Lr">Their learning rate.</param>
/// <param name="Prompt">Token ids after the real or virtual token (the paper: none).</param>
/// <param name="Batch">Rows per cached greedy generation (the paper: 1,024).</param>
/// <param name="Chunk">Virtual tokens trained together; a killed run resumes after the last finished chunk.</param>
public sealed record LlamaSetup(Sized<int> VirtualTokens, int Continuation, Sized<int> Steps, Sized<double> Lr, IReadOnlyList<int>? Prompt = null, int Batch = 256, int Chunk = 256);

/// <summary>What <c>reproduce --llama</c>'s options set instead of the spec's setup; null keeps the spec's.</summary>
/// <param name="VirtualTokens"><c>--llama-virtual-tokens</c>.</param>
/// <param name="Continuation"><c>--llama-length</c>.</param>
/// <param name="Prompt"><c>--llama-prompt</c>.</param>
public sealed record LlamaOverrides(int? VirtualTokens = null, int? Continuation = null, IReadOnlyList<int>? Prompt = null);

/// <summary>
/// Runs the paper's two LLaMA experiments on a Llama-family checkpoint the user names
/// (<c>reproduce --llama DIR</c>; nothing is downloaded). Both train single virtual tokens (soft prompts
/// of size 1, the model frozen), each to make the model continue with a random target of its own.
/// <c>llama-identities</c> (C2, C3) checks the identities at every layer and query head on
/// <c>[virtual token, prompt, its target]</c> against the same rows with a padding token in its place;
/// metrics <c>layer-0/attention-error</c>, <c>layer-0/bias-error</c>, <c>layer-0/output-error</c>,
/// <c>all-layers/own-attention-error</c>, <c>all-layers/bias-error</c> and <c>prefix-mass</c>.
/// <c>llama-completions</c> (C1) counts the distinct greedy continuations of all V single real tokens
/// and of the virtual tokens (<see cref="LlamaCount"/>, which resumes after a kill); metrics
/// <c>real/…</c> and <c>virtual/…</c> (<c>tried</c>, <c>distinct</c>, <c>distinct-share</c>) and
/// <c>virtual/targets-hit</c>.
/// </summary>
public sealed class LlamaRunner : IExperimentRunner
{
    /// <summary>The identity check's spec kind.</summary>
    public const string IdentitiesKind = "llama-identities";

    /// <summary>The completion count's spec kind.</summary>
    public const string CompletionsKind = "llama-completions";

    // A plain estimate for Plan: this CPU's float32 products reach about 2e10 FLOP/s on 2 cores.
    private const double FlopsPerSecond = 2e10;

    private readonly string modelDirectory;
    private readonly LlamaOverrides overrides;
    private readonly Lazy<string> inputsKey;

    private LlamaRunner(string kind, string modelDirectory, LlamaOverrides overrides)
    {
        Kind = kind;
        this.modelDirectory = modelDirectory;
        this.overrides = overrides;
        inputsKey = new(() => Gpt2SpreadRunner.FilesHash(Directory.GetFiles(modelDirectory).Order(StringComparer.Ordinal)));
    }

    /// <summary>
    /// The runners of both kinds on the checkpoint <paramref name="modelDirectory"/>, which must be a Llama,
    /// Mistral or Qwen2 folder (one line naming the problem otherwise, before anything runs).
    /// </summary>
    public static IReadOnlyList<IExperimentRunner> For(string modelDirectory, LlamaOverrides overrides)
    {
        PrefixLabException.Check(Directory.Exists(modelDirectory), $"--llama: folder not found: '{modelDirectory}'");
        PrefixLabException.Check(File.Exists(Path.Combine(modelDirectory, HuggingFaceGpt2.ConfigFile)), $"--llama: '{modelDirectory}' is not a Hugging Face checkpoint (no config.json)");
        string type = ModelLoader.ModelType(modelDirectory);
        PrefixLabException.Check(LlamaConfig.ModelTypes.Contains(type),
            $"--llama: '{modelDirectory}' is a {type} checkpoint; --llama takes a Llama-family folder (model_type {string.Join(", ", LlamaConfig.ModelTypes)})");
        return [new LlamaRunner(IdentitiesKind, modelDirectory, overrides), new LlamaRunner(CompletionsKind, modelDirectory, overrides)];
    }

    /// <inheritdoc />
    public string Kind { get; }

    /// <inheritdoc />
    public int Version => 1;

    /// <inheritdoc />
    /// <remarks>A hash of every file of the checkpoint folder (names and bytes).</remarks>
    public string InputsKey => inputsKey.Value;

    /// <summary>
    /// <paramref name="spec"/> with <paramref name="overrides"/> written into its setup when it is of a
    /// Llama kind, so that its settings, deviations and cache key follow them; any other spec as it is.
    /// </summary>
    public static ExperimentSpec Apply(ExperimentSpec spec, LlamaOverrides overrides)
    {
        if (spec.Kind is not (IdentitiesKind or CompletionsKind) || overrides == new LlamaOverrides())
        {
            return spec;
        }
        var setup = JsonNode.Parse(spec.Setup.GetRawText())!.AsObject();
        if (overrides.VirtualTokens is int count)
        {
            setup["virtual_tokens"] = count;
        }
        if (overrides.Continuation is int length)
        {
            setup["continuation"] = length;
        }
        if (overrides.Prompt is { } prompt)
        {
            setup["prompt"] = new JsonArray([.. prompt.Select(t => (JsonNode)t)]);
        }
        // The source is what cache keys hash: the changed setup makes other keys.
        string overridden = JsonSerializer.Serialize(overrides, SpecLoader.Json);
        return spec with { Setup = JsonDocument.Parse(setup.ToJsonString()).RootElement.Clone(), Source = spec.Source + "\noverrides " + overridden };
    }

    /// <inheritdoc />
    public void Validate(ExperimentSpec spec)
    {
        var setup = Setup(spec);
        var shape = ModelLoader.ReadInfo(modelDirectory).Config.Shape;
        int positions = 1 + (setup.Prompt?.Count ?? 0) + setup.Continuation;
        PrefixLabException.Check(positions <= shape.Positions, $"spec '{spec.Name}': 1 token, {setup.Prompt?.Count ?? 0} prompt and {setup.Continuation} new tokens need {positions} positions, '{modelDirectory}' has {shape.Positions}");
        PrefixLabException.Check(setup.Prompt is null || setup.Prompt.All(t => t >= 0 && t < shape.VocabSize), $"spec '{spec.Name}': prompt tokens must be between 0 and {shape.VocabSize - 1}");
    }

    /// <inheritdoc />
    public IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile) => Declarations.Deviations(spec, profile);

    /// <summary>The metrics <see cref="Run"/> returns for <paramref name="spec"/>.</summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile) => spec.Kind == IdentitiesKind
        ? [new("layer-0/attention-error"), new("layer-0/bias-error"), new("layer-0/output-error"), new("all-layers/own-attention-error"), new("all-layers/bias-error"), new("prefix-mass")]
        : [new("real/tried"), new("real/distinct"), new("real/distinct-share"), new("virtual/tried"), new("virtual/distinct"), new("virtual/distinct-share"), new("virtual/targets-hit")];

    /// <summary>The settings <see cref="Run"/> uses for <paramref name="spec"/> under <paramref name="profile"/>, by name.</summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile)
    {
        var setup = Setup(spec);
        return new Dictionary<string, double>
        {
            ["virtual-tokens"] = setup.VirtualTokens.For(profile),
            ["prefix-size"] = 1,
            ["continuation"] = setup.Continuation,
            ["prompt-length"] = setup.Prompt?.Count ?? 0,
            ["virtual/steps"] = setup.Steps.For(profile),
            ["virtual/lr"] = setup.Lr.For(profile),
        };
    }

    /// <inheritdoc />
    /// <remarks>From the checkpoint's size: about 2 FLOPs per weight per token generated, 6 per token trained.</remarks>
    public IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed)
    {
        var setup = Setup(spec);
        var shape = ModelLoader.ReadInfo(modelDirectory).Config.Shape;
        double weights = (double)shape.Layers * ((2.0 * shape.Width * shape.Heads * shape.HeadDim) + (2.0 * shape.Width * shape.KeyValueHeads * shape.HeadDim) + (3.0 * shape.Width * shape.MlpWidth))
            + (2.0 * shape.VocabSize * shape.Width);
        double rowTokens = 1 + (setup.Prompt?.Count ?? 0) + setup.Continuation;
        int count = setup.VirtualTokens.For(profile);
        double train = 6 * weights * rowTokens * count * setup.Steps.For(profile);
        double generate = 2 * weights * rowTokens * (count + (Kind == CompletionsKind ? shape.VocabSize : 0));
        return [new($"{spec.Name}/{seed}", (train + generate) / FlopsPerSecond) { Label = Kind == CompletionsKind ? "real and virtual continuations" : "virtual tokens and identities" }];
    }

    /// <inheritdoc />
    public SeedResult Run(ExperimentSpec spec, RunContext context)
    {
        var setup = Setup(spec);
        var (model, _) = ModelLoader.Load(modelDirectory);
        using var _ = model;
        if (Kind == CompletionsKind)
        {
            string key = ResultCache.Key(new { kind = Kind, inputs = InputsKey, spec = spec.Source, profile = context.Profile.Name, seed = context.Seed });
            return new LlamaCount(model, setup, context, context.Cache.PathOf("runs", key, ".count.json")).Run();
        }
        return Identities(model, setup, context);
    }

    /// <summary>
    /// Trains the virtual tokens of <paramref name="first"/> on and the <paramref name="targets"/> they
    /// must make the model continue with, each row's start drawn from a stream of its chunk, so any
    /// chunk trains alike however the run was split.
    /// </summary>
    internal static IReadOnlyList<VirtualToken> Train(ILanguageModel model, LlamaSetup setup, RunContext context, IReadOnlyList<int[]> targets, int first, string label)
    {
        int steps = setup.Steps.For(context.Profile);
        var options = new TrainOptions { Iterations = steps, LearningRate = setup.Lr.For(context.Profile), Seed = context.Seed + (ulong)first, LogEvery = Math.Max(1, steps / 10) };
        return CompletionCount.TrainVirtual(model, targets, setup.Prompt ?? [], options, p => context.Report(label, p));
    }

    private static SeedResult Identities(ILanguageModel model, LlamaSetup setup, RunContext context)
    {
        int count = setup.VirtualTokens.For(context.Profile), length = setup.Continuation;
        var prompt = setup.Prompt ?? [];
        var targets = RandomSequences.Distinct(model.Shape.VocabSize, length, count, (int)context.Seed).ToList();
        string label = $"training {targets.Count} virtual tokens";
        context.Report(label, null);
        var tokens = Train(model, setup, context, targets, 0, label);
        context.Report("identities at every layer and head", null);

        using var scope = NewDisposeScope();
        // [token, prompt…, target]: position 0 holds the virtual token in one run and a padding token in the other.
        var rows = tensor([.. targets.SelectMany(t => new long[] { 0 }.Concat(prompt.Select(p => (long)p)).Concat(t.Select(id => (long)id)))], dtype: ScalarType.Int64)
            .view(targets.Count, 1 + prompt.Count + length);
        var vectors = tensor([.. tokens.SelectMany(t => t.Vectors.Cast<float>())], [tokens.Count, 1, model.Shape.Width]);
        AttentionRecording with;
        using (CompletionCount.Attach(model, vectors))
        {
            with = AttentionRecorder.Record(model, rows);
        }
        using var __ = with;
        using var without = AttentionRecorder.Record(model, rows);
        var checks = PrefixIdentities.Compare(with, without, new PrefixGeometry(PrefixForm.Rows, 1));
        var first = checks.Where(c => c.Layer == 0).ToList();
        var metrics = new Dictionary<string, double>
        {
            ["layer-0/attention-error"] = first.Max(c => c.ContentAttentionError),
            ["layer-0/bias-error"] = first.Max(c => c.BiasedMixError ?? 0),
            ["layer-0/output-error"] = first.Max(c => c.ContentOutputError),
            ["all-layers/own-attention-error"] = checks.Max(c => c.OwnContentError),
            ["all-layers/bias-error"] = checks.Max(c => c.BiasedMixError ?? 0),
            ["prefix-mass"] = first.Average(c => c.AlphaMax),
        };
        string dtype = model.Module.parameters().First().dtype.ToString();
        var notes = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{tokens.Count} virtual tokens trained {setup.Steps.For(context.Profile):N0} steps each on a random {length}-token target; checked on [virtual token, {prompt.Count} prompt tokens, its target] against a padding token in its place, at all {model.Shape.Layers} layers and {model.Shape.Heads} query heads ({model.Shape.KeyValueHeads} key/value heads), in {dtype}"),
            "the paper's errors (4.88e-4 and 9.16e-5) are LLaMA-7B's in fp16 at layer 0, one head, one prefix vector; ours are the largest over every head and virtual token at layer 0, attention renormalised over the content",
        };
        return new SeedResult(metrics, notes);
    }

    private static LlamaSetup Setup(ExperimentSpec spec)
    {
        var setup = spec.SetupAs<LlamaSetup>();
        PrefixLabException.Check(setup.VirtualTokens is not null && setup.Steps is not null && setup.Lr is not null, $"spec '{spec.Name}': a {spec.Kind} setup needs virtual_tokens, continuation, steps and lr");
        var (count, steps, lr) = (setup.VirtualTokens!, setup.Steps!, setup.Lr!);
        PrefixLabException.Check(Profiles.All.All(p => count.For(p) >= 1 && steps.For(p) >= 1 && lr.For(p) > 0), $"spec '{spec.Name}': virtual_tokens, steps and lr must be positive");
        PrefixLabException.Check(setup.Continuation >= 1 && setup.Batch >= 1 && setup.Chunk >= 1, $"spec '{spec.Name}': continuation, batch and chunk must be at least 1");
        return setup;
    }
}
