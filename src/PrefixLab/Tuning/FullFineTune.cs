using PrefixLab.Model;
using PrefixLab.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>Full fine-tuning's settings: none (it trains every weight).</summary>
public sealed record FullSettings : TuningSettings
{
    /// <inheritdoc />
    public override TuningSettings ValidateFor(ModelShape config) => this;
}

/// <summary>
/// Full fine-tuning: every parameter trains, the model in training mode (dropout on), with minGPT's
/// groups (weight decay on Linear weights only) and the paper's learning rate 5e-4. It saves a model.
/// </summary>
public sealed class FullFineTune(ILanguageModel model, FullSettings settings) : TuningMethod<FullSettings>(model, settings, trainsBase: true)
{
    /// <summary>Full fine-tuning's registration: it trains the whole model and saves a model file; it has no size and no PEFT counterpart.</summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [.. Model.Module.parameters()];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-4;

    /// <inheritdoc />
    public override double DefaultWeightDecay => 0.1;

    /// <inheritdoc />
    public override IReadOnlyList<ParameterGroup> Groups(double weightDecay)
    {
        var (decay, noDecay) = Model.ParameterGroups();
        return [new(decay, weightDecay), new(noDecay, 0.0)];
    }

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() => Model.Module.state_dict();

    private sealed class Descriptor : MethodKind<FullSettings>
    {
        public override string Name => "full";

        public override bool SavesModel => true;

        protected override ITuningMethod Attach(ILanguageModel model, FullSettings settings, Generator generator) => new FullFineTune(model, settings);
    }
}
