using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using PrefixLab.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>LoRA's settings: rank, alpha, targets and PEFT's per-layer patterns.</summary>
public sealed record LoraSettings : TuningSettings
{
    /// <summary>LoRA rank r.</summary>
    public int Rank { get; init; } = 1;

    /// <summary>LoRA alpha; the update is scaled by alpha / r. Null means alpha = r (scale 1).</summary>
    public double? Alpha { get; init; }

    /// <summary>
    /// A Linear layer is adapted when its name contains one of these. The default is the paper's GPT
    /// targets; settings made for a model (<see cref="MethodKind.Settings"/> with its family) default to
    /// the family's (<see cref="ModelFamily.LoraTargets"/>: <c>q_proj</c>, <c>v_proj</c> on Llama, PEFT's).
    /// </summary>
    public IReadOnlyList<string> Targets { get; init; } = ["c_fc", "c_proj"];

    /// <summary>
    /// Ranks that differ from <see cref="Rank"/> for some layers, as PEFT's <c>rank_pattern</c>: a layer
    /// takes the value of the first key (a regular expression) that matches the end of its name at a dot
    /// boundary. Left out of the JSON when null.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, int>? RankPattern { get; init; }

    /// <summary>Alphas that differ from <see cref="Alpha"/> for some layers, as PEFT's <c>alpha_pattern</c> (matched as <see cref="RankPattern"/>).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, double>? AlphaPattern { get; init; }

    /// <summary>A rank no larger than the model's larger width (docs/reliability.md).</summary>
    public override TuningSettings ValidateFor(ModelShape config)
    {
        int maxRank = Math.Max(config.Width, config.MlpWidth);
        PrefixLabException.Check(Rank >= 1 && Rank <= maxRank, $"LoRA rank must be between 1 and {maxRank}, the model's larger width (got {Rank})");
        PrefixLabException.Check(RankPattern is null || RankPattern.Values.All(r => r >= 1 && r <= maxRank), $"LoRA rank_pattern ranks must be between 1 and {maxRank}, the model's larger width");
        PrefixLabException.Check(AlphaPattern is null || AlphaPattern.Values.All(double.IsFinite), "LoRA alpha_pattern values must be finite numbers");
        PrefixLabException.Check(Alpha is null || double.IsFinite(Alpha.Value), $"LoRA alpha must be a finite number (got {Alpha})");
        PrefixLabException.Check(Targets.Count > 0 && Targets.All(t => !string.IsNullOrEmpty(t)), "LoRA targets must be a non-empty list of names");
        return this;
    }
}

/// <summary>
/// LoRA: each targeted Linear layer computes <c>W x + b + (alpha / r) · B A x</c> with trainable
/// <c>A</c> (r × in, Kaiming-uniform) and <c>B</c> (out × r, zero, so training starts from the base
/// model). Targets are the Linear layers whose names contain one of <see cref="LoraSettings.Targets"/>;
/// the default is the family's (<see cref="ModelFamily.LoraTargets"/>): for GPT <c>c_fc</c> and
/// <c>c_proj</c>, the paper's (the MLP and the attention output projection); for Llama PEFT's
/// <c>q_proj</c> and <c>v_proj</c>. <see cref="LoraSettings.RankPattern"/> and <see cref="LoraSettings.AlphaPattern"/>
/// give some layers another r or alpha, as PEFT's <c>rank_pattern</c> and <c>alpha_pattern</c> do.
/// <see cref="Merge"/> folds the update into the weights; <see cref="Unmerge"/> restores them exactly.
/// The update is added at the hook point each layer's output passes (<c>….c_fc.hook_out</c>), whose
/// context carries the layer's input.
/// </summary>
public sealed class Lora : TuningMethod<LoraSettings>
{
    private readonly List<Adapted> adapted = [];
    private bool merged;

    /// <summary>
    /// Adds a rank-r update to every targeted Linear layer of <paramref name="model"/>, each A drawn by
    /// <paramref name="generator"/> (seed 0 when null) layer after layer.
    /// </summary>
    public Lora(ILanguageModel model, LoraSettings settings, Generator? generator = null) : base(model, settings, trainsBase: false)
    {
        using var own = generator is null ? new Generator(0) : null;
        PrefixLabException.Check(settings.Rank >= 1, $"LoRA rank must be at least 1 (got {settings.Rank})");
        PrefixLabException.Check(settings.Targets.Count > 0, "LoRA needs at least one target name");
        foreach (var (name, module) in model.Module.named_modules())
        {
            if (module is not Linear linear || !settings.Targets.Any(t => name.Contains(t, StringComparison.Ordinal)))
            {
                continue;
            }
            int rank = Pattern(settings.RankPattern, name) ?? settings.Rank;
            PrefixLabException.Check(rank >= 1, $"LoRA rank of '{name}' must be at least 1 (got {rank})");
            // PEFT's rule: alpha is one default (lora_alpha) unless a pattern names the layer; r is per layer.
            double scale = (Pattern(settings.AlphaPattern, name) ?? settings.Alpha ?? settings.Rank) / rank;
            long outFeatures = linear.weight.shape[0], inFeatures = linear.weight.shape[1];
            var a = new Parameter(empty(rank, inFeatures), requires_grad: true);
            var b = new Parameter(zeros(outFeatures, rank), requires_grad: true);
            // PEFT's and PyTorch Linear's default: Kaiming-uniform with a = √5.
            KaimingUniform(a, Math.Sqrt(5), generator ?? own!);
            var entry = new Adapted(name, linear, a, b, scale);
            adapted.Add(entry);
            Hook(model.Hooks.OutputOf(linear).Name, (output, context) => merged ? output : output + (context.Input!.matmul(entry.A.t()).matmul(entry.B.t()) * entry.Scale));
        }
        PrefixLabException.Check(adapted.Count > 0, $"no Linear layer of the model matches LoRA targets [{string.Join(", ", settings.Targets)}]");
    }

    /// <summary>LoRA's registration: its knobs, its size (the rank) and its PEFT mapping.</summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <summary>Names of the adapted Linear layers.</summary>
    public IReadOnlyList<string> AdaptedLayers => [.. adapted.Select(a => a.Name)];

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [.. adapted.SelectMany(a => new[] { a.A, a.B })];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-3;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        adapted.SelectMany(a => new[] { ($"{a.Name}.lora_A.weight", (Tensor)a.A), ($"{a.Name}.lora_B.weight", a.B) })
            .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);

    /// <summary>Adds <c>(alpha / r) · B A</c> to each adapted weight; the hooks stop adding the update.</summary>
    public void Merge()
    {
        if (merged)
        {
            return;
        }
        using var noGrad = no_grad();
        foreach (var entry in adapted)
        {
            entry.Backup = entry.Linear.weight.detach().clone();
            entry.Linear.weight.add_(entry.B.matmul(entry.A).mul(entry.Scale));
        }
        merged = true;
    }

    /// <summary>Restores the weights saved by <see cref="Merge"/>, bit for bit.</summary>
    public void Unmerge()
    {
        if (!merged)
        {
            return;
        }
        using var noGrad = no_grad();
        foreach (var entry in adapted)
        {
            entry.Linear.weight.copy_(entry.Backup!);
            entry.Backup!.Dispose();
            entry.Backup = null;
        }
        merged = false;
    }

    /// <inheritdoc />
    public override void BeforeConversion() => Merge();

    /// <inheritdoc />
    protected override void OnDispose() => Unmerge();

    /// <summary>
    /// LoRA's rank is at most the smaller width of every targeted layer (a larger one adds parameters but
    /// no expressive power, and the factor matrices grow without bound).
    /// </summary>
    private static void CheckRank(ILanguageModel model, LoraSettings settings, string what)
    {
        var smallest = model.Module.named_modules()
            .Where(m => m.module is Linear && settings.Targets.Any(t => m.name.Contains(t, StringComparison.Ordinal)))
            .Select(m => (m.name, Shape: ((Linear)m.module).weight.shape))
            .OrderBy(m => Math.Min(m.Shape[0], m.Shape[1]))
            .FirstOrDefault();
        if (smallest.name is null)
        {
            return; // no layer matches: LoRA itself says so, and other methods ignore the rank
        }
        long limit = Math.Min(smallest.Shape[0], smallest.Shape[1]);
        PrefixLabException.Check(settings.Rank <= limit,
            $"{what} {settings.Rank} is above {limit}, the smaller width of targeted layer {smallest.name} ({smallest.Shape[1]} in, {smallest.Shape[0]} out): LoRA's rank is at most min(in, out)");
    }

    /// <summary>
    /// The value of the first key of <paramref name="pattern"/> that matches the end of
    /// <paramref name="layer"/> at a dot boundary (PEFT's <c>get_pattern_key</c>), or null.
    /// </summary>
    internal static T? Pattern<T>(IReadOnlyDictionary<string, T>? pattern, string layer)
        where T : struct
    {
        foreach (var (key, value) in pattern ?? new Dictionary<string, T>())
        {
            bool matches;
            try
            {
                matches = Regex.IsMatch(layer, $"^(.*\\.)?({key})$", RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (Exception e) when (e is ArgumentException or RegexMatchTimeoutException)
            {
                throw new PrefixLabException($"LoRA layer pattern '{key}' is not a usable regular expression");
            }
            if (matches)
            {
                return value;
            }
        }
        return null;
    }

    private sealed class Descriptor : MethodKind<LoraSettings>
    {
        public override string Name => "lora";

        public override SizeKnob Size { get; } = new SizeKnob<LoraSettings>("rank", "rank", (s, r) => s with { Rank = r }, s => s.Rank);

        public override IReadOnlyList<Knob> Knobs { get; } =
        [
            new Knob<LoraSettings>("rank", KnobType.Int, "r", "LoRA rank, at most the smallest in or out width of the targeted layers", 1, 100_000, (s, v) => s with { Rank = (int)v })
            {
                DefaultText = "1",
                Validate = (model, s, what, _) => CheckRank(model, s, what),
            },
            new Knob<LoraSettings>("alpha", KnobType.Number, "a", "LoRA alpha; the update is scaled by alpha / r", 0, 1e6, (s, v) => s with { Alpha = (double)v }) { DefaultText = "r" },
            new Knob<LoraSettings>("targets", KnobType.Names, "a,b", "LoRA: Linear layers whose names contain these", 0, 0, (s, v) => s with { Targets = (string[])v }) { DefaultText = "the model family's: c_fc,c_proj (GPT), q_proj,v_proj (Llama)", FamilyDefault = family => family.LoraTargets.ToArray() },
        ];

        public override IPeftMapping Peft { get; } = new LoraPeft();

        protected override ITuningMethod Attach(ILanguageModel model, LoraSettings settings, Generator generator) => new Lora(model, settings, generator);
    }

    private sealed class Adapted(string name, Linear linear, Parameter a, Parameter b, double scale)
    {
        public double Scale { get; } = scale;

        public string Name { get; } = name;

        public Linear Linear { get; } = linear;

        public Parameter A { get; } = a;

        public Parameter B { get; } = b;

        public Tensor? Backup { get; set; }
    }
}
