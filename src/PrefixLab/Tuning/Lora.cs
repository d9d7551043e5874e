using System.Text.RegularExpressions;
using PrefixLab.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// LoRA: each targeted Linear layer computes <c>W x + b + (alpha / r) · B A x</c> with trainable
/// <c>A</c> (r × in, Kaiming-uniform) and <c>B</c> (out × r, zero, so training starts from the base
/// model). Targets are the Linear layers whose names contain one of <see cref="TuningSettings.Targets"/>;
/// the default, <c>c_fc</c> and <c>c_proj</c>, is the paper's: the MLP and the attention output
/// projection. <see cref="TuningSettings.RankPattern"/> and <see cref="TuningSettings.AlphaPattern"/>
/// give some layers another r or alpha, as PEFT's <c>rank_pattern</c> and <c>alpha_pattern</c> do.
/// <see cref="Merge"/> folds the update into the weights; <see cref="Unmerge"/> restores them exactly.
/// </summary>
public sealed class Lora : TuningMethod
{
    private readonly List<Adapted> adapted = [];
    private bool merged;

    /// <summary>
    /// Adds a rank-r update to every targeted Linear layer of <paramref name="model"/>, each A drawn by
    /// <paramref name="generator"/> (seed 0 when null) layer after layer.
    /// </summary>
    public Lora(Gpt model, TuningSettings settings, Generator? generator = null) : base(model, settings, trainsBase: false)
    {
        using var own = generator is null ? new Generator(0) : null;
        PrefixLabException.Check(settings.Rank >= 1, $"LoRA rank must be at least 1 (got {settings.Rank})");
        PrefixLabException.Check(settings.Targets.Count > 0, "LoRA needs at least one target name");
        foreach (var (name, module) in model.named_modules())
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
            var remover = linear.register_forward_hook((_, input, output) => merged ? output : output + (input.matmul(entry.A.t()).matmul(entry.B.t()) * entry.Scale));
            Track(new Removal(remover.remove));
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
    private static void CheckRank(Gpt model, TuningSettings settings, string what)
    {
        var smallest = model.named_modules()
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

    private sealed class Descriptor : MethodKind
    {
        public override string Name => "lora";

        public override SizeKnob Size { get; } = new("rank", "rank", (s, r) => s with { Rank = r }, s => s.Rank);

        public override IReadOnlyList<Knob> Knobs { get; } =
        [
            new("rank", KnobType.Int, "r", "LoRA rank, at most the smallest in or out width of the targeted layers", 1, 100_000, (s, v) => s with { Rank = (int)v })
            {
                Default = "1",
                Check = (model, s, what, _) => CheckRank(model, s, what),
            },
            new("alpha", KnobType.Number, "a", "LoRA alpha; the update is scaled by alpha / r", 0, 1e6, (s, v) => s with { Alpha = (double)v }) { Default = "r" },
            new("targets", KnobType.Names, "a,b", "LoRA: Linear layers whose names contain these", 0, 0, (s, v) => s with { Targets = (string[])v }) { Default = "c_fc,c_proj" },
        ];

        public override IPeftMapping Peft { get; } = new LoraPeft();

        public override ITuningMethod Attach(Gpt model, TuningSettings settings, Generator generator) => new Lora(model, settings, generator);
    }

    private sealed class Removal(Action remove) : IDisposable
    {
        public void Dispose() => remove();
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
