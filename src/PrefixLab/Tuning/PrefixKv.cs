using PrefixLab.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Prefix-tuning in Li and Liang's form, as Hugging Face PEFT implements it: at every block, P trainable
/// keys and values per head that every query also attends to. The prefix takes positions 0 … P−1 and
/// the content follows at P …, as a Hugging Face model places tokens after P <c>past_key_values</c>
/// (<see cref="KvPositions.AfterPrefix"/>; files from before keep <see cref="KvPositions.FromZero"/>).
/// Optionally the keys and values are produced by a small MLP while training (PEFT's
/// <c>prefix_projection</c>); saving folds them into plain keys and values.
/// </summary>
public sealed class PrefixKv : TuningMethod
{
    private readonly Parameter? keysValues;
    private readonly Parameter? embedding;
    private readonly Sequential? projection;
    private readonly int layers;
    private readonly int heads;
    private readonly int headDim;
    private readonly int size;

    /// <summary>Creates the keys and values (or their MLP) and attaches them to every block's attention.</summary>
    public PrefixKv(Gpt model, TuningSettings settings) : base(model, settings, trainsBase: false)
    {
        layers = model.Config.Layers;
        heads = model.Config.Heads;
        headDim = model.Config.HeadDim;
        size = RequiredPrefixSize();
        int width = model.Config.Width;
        if (settings.ProjectionHidden is int hidden)
        {
            PrefixLabException.Check(hidden >= 1, $"prefix-kv projection width must be at least 1 (got {hidden})");
            embedding = NormalParameter([size, width], settings.InitStd);
            projection = nn.Sequential(nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, layers * 2 * width));
        }
        else
        {
            keysValues = NormalParameter([layers, 2, heads, size, headDim], settings.InitStd);
        }
        if (settings.KvPositions == KvPositions.AfterPrefix)
        {
            Track(model.ShiftPositions(size));
        }
        for (int layer = 0; layer < layers; layer++)
        {
            int l = layer;
            Hook(HookPoints.K(l), (keys, _) => Prepend(keys, l, 0));
            Hook(HookPoints.V(l), (values, _) => Prepend(values, l, 1));
        }
    }

    /// <inheritdoc />
    public override int PositionShift => Settings.KvPositions == KvPositions.AfterPrefix ? size : 0;

    /// <inheritdoc />
    public override string Name => "prefix-kv";

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters =>
        keysValues is not null ? [keysValues] : [embedding!, .. projection!.parameters()];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5;

    /// <summary>The keys and values, <c>[layer, 2 (keys, values), head, P, head_dim]</c>.</summary>
    public Tensor KeysValues() => keysValues ?? projection!.forward(embedding!)
        .view(size, layers, 2, heads, headDim).permute(1, 2, 3, 0, 4);

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors()
    {
        using var noGrad = no_grad();
        return new Dictionary<string, Tensor> { ["prefix.keys_values"] = KeysValues().contiguous() };
    }

    /// <inheritdoc />
    public override void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors)
    {
        PrefixLabException.Check(keysValues is not null, "a prefix-kv adapter is loaded as plain keys and values (no projection)");
        base.LoadTensors(tensors);
    }

    /// <inheritdoc />
    protected override void OnDispose() => projection?.Dispose();

    private Tensor Prepend(Tensor activation, int layer, int which)
    {
        var prefix = KeysValues()[layer, which].unsqueeze(0).expand(activation.shape[0], heads, size, headDim);
        return cat([prefix.to_type(activation.dtype), activation], 2);
    }
}
