using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Many single-token soft prompts trained at once: row i of one <c>[rows, width]</c> parameter replaces
/// position 0 of batch row i at the first block's input, as a <see cref="SoftPrompt"/> of size 1 does
/// for every row. With the model frozen and an optimiser that treats every element on its own (Adam, no
/// weight decay, no gradient clipping over the whole parameter), training it on a batch whose row i is
/// prompt i's data is the same as training the prompts one by one, at the cost of one batch.
/// </summary>
public sealed class SoftPromptRows : TuningMethod<PromptSettings>
{
    private readonly Parameter rows;

    /// <summary>
    /// Creates <paramref name="count"/> vectors drawn from N(0, <see cref="PromptSettings.InitStd"/>²) by
    /// <paramref name="generator"/> (seed 0 when null) and attaches them.
    /// </summary>
    public SoftPromptRows(ILanguageModel model, int count, PromptSettings settings, Generator? generator = null) : base(model, settings with { PrefixSize = 1 }, trainsBase: false)
    {
        PrefixLabException.Check(count >= 1, $"soft-prompt rows need at least 1 row (got {count})");
        rows = NormalParameter([count, model.Shape.Width], settings.InitStd, generator, model.Module.parameters().First().dtype);
        Hook(HookPoints.ResidPre(0), (activation, context) => ReplaceFirstPerRow(activation, context, rows));
    }

    /// <inheritdoc />
    public override string Name => "soft-prompt-rows";

    /// <inheritdoc />
    public override int? PaddingRows => 1;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [rows];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5; // a soft prompt's, the paper's

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        new Dictionary<string, Tensor> { ["prompt.rows"] = rows };
}
