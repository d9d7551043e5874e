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
/// projection. <see cref="Merge"/> folds the update into the weights; <see cref="Unmerge"/> restores
/// them exactly.
/// </summary>
public sealed class Lora : TuningMethod
{
    private readonly List<Adapted> adapted = [];
    private bool merged;

    /// <summary>Adds a rank-r update to every targeted Linear layer of <paramref name="model"/>.</summary>
    public Lora(Gpt model, TuningSettings settings) : base(model, settings, trainsBase: false)
    {
        PrefixLabException.Check(settings.Rank >= 1, $"LoRA rank must be at least 1 (got {settings.Rank})");
        PrefixLabException.Check(settings.Targets.Count > 0, "LoRA needs at least one target name");
        Scale = (settings.Alpha ?? settings.Rank) / settings.Rank;
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not Linear linear || !settings.Targets.Any(t => name.Contains(t, StringComparison.Ordinal)))
            {
                continue;
            }
            long outFeatures = linear.weight.shape[0], inFeatures = linear.weight.shape[1];
            var a = new Parameter(empty(settings.Rank, inFeatures), requires_grad: true);
            var b = new Parameter(zeros(outFeatures, settings.Rank), requires_grad: true);
            using (no_grad())
            {
                // PEFT's and PyTorch Linear's default: Kaiming-uniform with a = √5.
                nn.init.kaiming_uniform_(a, Math.Sqrt(5));
            }
            var entry = new Adapted(name, linear, a, b);
            adapted.Add(entry);
            var remover = linear.register_forward_hook((_, input, output) => merged ? output : output + (input.matmul(entry.A.t()).matmul(entry.B.t()) * Scale));
            Track(new Removal(remover.remove));
        }
        PrefixLabException.Check(adapted.Count > 0, $"no Linear layer of the model matches LoRA targets [{string.Join(", ", settings.Targets)}]");
    }

    /// <inheritdoc />
    public override string Name => "lora";

    /// <summary>alpha / r.</summary>
    public double Scale { get; }

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
            entry.Linear.weight.add_(entry.B.matmul(entry.A).mul(Scale));
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
    protected override void OnDispose() => Unmerge();

    private sealed class Removal(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }

    private sealed class Adapted(string name, Linear linear, Parameter a, Parameter b)
    {
        public string Name { get; } = name;

        public Linear Linear { get; } = linear;

        public Parameter A { get; } = a;

        public Parameter B { get; } = b;

        public Tensor? Backup { get; set; }
    }
}
