using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Prefix-tuning in the paper's form (its companion code): at every block, the first P rows of the
/// attention input, before the block's LayerNorm, are replaced by trainable vectors
/// <c>s^l_1..s^l_P</c>. The inputs keep P padding tokens in front, so positions line up.
/// </summary>
public sealed class Prefix : TuningMethod<PromptSettings>
{
    private readonly Parameter prefix;

    /// <summary>
    /// Creates L × P vectors drawn from N(0, <see cref="PromptSettings.InitStd"/>²) by
    /// <paramref name="generator"/> (seed 0 when null) and attaches them.
    /// </summary>
    public Prefix(ILanguageModel model, PromptSettings settings, Generator? generator = null) : base(model, settings, trainsBase: false)
    {
        prefix = NormalParameter([model.Shape.Layers, settings.RequiredPrefixSize(Name), model.Shape.Width], settings.InitStd, generator);
        for (int layer = 0; layer < model.Shape.Layers; layer++)
        {
            int l = layer;
            Hook(HookPoints.ResidPre(l), (activation, context) => ReplacePrefixRows(activation, context, prefix[l]));
        }
    }

    /// <summary>The paper's prefix's registration: a context method sized by its prefix.</summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <inheritdoc />
    public override int? PaddingRows => Settings.PrefixSize;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [prefix];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        new Dictionary<string, Tensor> { ["prefix.vectors"] = prefix };

    private sealed class Descriptor : MethodKind<PromptSettings>
    {
        public override string Name => "prefix";

        public override bool IsContext => true;

        public override SizeKnob Size => ContextKnobs.Size;

        public override IReadOnlyList<Knob> Knobs { get; } = [ContextKnobs.PrefixSize, ContextKnobs.InitStd];

        protected override ITuningMethod Attach(ILanguageModel model, PromptSettings settings, Generator generator) => new Prefix(model, settings, generator);
    }
}
