using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Soft prompting (prompt tuning): P trainable vectors replace the whole input vector (token and
/// position embedding) at the P prefix positions, at the input of the first block only.
/// </summary>
public sealed class SoftPrompt : TuningMethod
{
    private readonly Parameter prompt;

    /// <summary>
    /// Creates P vectors drawn from N(0, <see cref="TuningSettings.InitStd"/>²), in the model's floating
    /// point type (a float64 construction needs float64 virtual tokens), and attaches them.
    /// </summary>
    public SoftPrompt(Gpt model, TuningSettings settings) : base(model, settings, trainsBase: false)
    {
        prompt = NormalParameter([RequiredPrefixSize(), model.Config.Width], settings.InitStd, model.parameters().First().dtype);
        Hook(HookPoints.ResidPre(0), (activation, context) => ReplacePrefixRows(activation, context, prompt));
    }

    /// <inheritdoc />
    public override string Name => "soft-prompt";

    /// <inheritdoc />
    public override int? PaddingRows => Settings.PrefixSize;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [prompt];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        new Dictionary<string, Tensor> { ["prompt.embeddings"] = prompt };
}
