using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Prefix-tuning in the paper's form (its companion code): at every block, the first P rows of the
/// attention input, before the block's LayerNorm, are replaced by trainable vectors
/// <c>s^l_1..s^l_P</c>. The inputs keep P padding tokens in front, so positions line up.
/// </summary>
public sealed class Prefix : TuningMethod
{
    private readonly Parameter prefix;

    /// <summary>Creates L × P vectors drawn from N(0, <see cref="TuningSettings.InitStd"/>²) and attaches them.</summary>
    public Prefix(Gpt model, TuningSettings settings) : base(model, settings, trainsBase: false)
    {
        prefix = NormalParameter([model.Config.Layers, RequiredPrefixSize(), model.Config.Width], settings.InitStd);
        for (int layer = 0; layer < model.Config.Layers; layer++)
        {
            int l = layer;
            Hook(HookPoints.ResidPre(l), (activation, context) => ReplacePrefixRows(activation, context, prefix[l]));
        }
    }

    /// <inheritdoc />
    public override string Name => "prefix";

    /// <inheritdoc />
    public override int? PaddingRows => Settings.PrefixSize;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [prefix];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        new Dictionary<string, Tensor> { ["prefix.vectors"] = prefix };
}
