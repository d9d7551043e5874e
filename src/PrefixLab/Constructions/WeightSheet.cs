using PrefixLab.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>
/// The weights of a <see cref="Gpt"/> written by hand: every parameter starts at zero, the setters
/// address them by minGPT name and by the role of a row or column (a head's query dimension, an MLP
/// hidden unit), and <see cref="Apply"/> copies the whole sheet into the model in its floating-point
/// type. The values are doubles so that float64 models get the integers the constructions need exactly.
/// </summary>
internal sealed class WeightSheet
{
    private readonly Dictionary<string, (double[] Values, long[] Shape)> parameters = new(StringComparer.Ordinal);
    private readonly GptConfig config;

    public WeightSheet(Gpt model)
    {
        config = model.Config;
        foreach (var (name, parameter) in model.named_parameters())
        {
            parameters[name] = (new double[parameter.numel()], parameter.shape);
        }
    }

    /// <summary>
    /// A model of the constructions' kind, weights still random: no LayerNorm, ReLU MLPs of
    /// <paramref name="mlpDepth"/> hidden layers, hard attention (<see cref="ExactLimits.AttentionScale"/>),
    /// no dropout, in evaluation mode and in <paramref name="dtype"/>.
    /// </summary>
    public static Gpt NewModel(int vocab, int blockSize, int layers, int heads, int width, int mlpHidden, int mlpDepth, ScalarType dtype)
    {
        var config = new GptConfig(vocab, blockSize, layers, heads, width, Dropout: 0, LayerNorms: false,
            Activation: MlpActivation.Relu, MlpHidden: mlpHidden, MlpDepth: mlpDepth, AttnScale: ExactLimits.AttentionScale);
        var model = new Gpt(config, seed: 0);
        model.eval();
        model.to(dtype);
        return model;
    }

    /// <summary>Sets element [row, column] of a matrix, or element [row] of a vector when <paramref name="column"/> is -1.</summary>
    public void Set(string name, int row, int column, double value)
    {
        var (values, shape) = parameters.TryGetValue(name, out var p) ? p : throw new InvalidOperationException($"no parameter {name}");
        long index = column < 0 ? row : (row * shape[1]) + column;
        values[index] = value;
    }

    public void TokenEmbedding(int token, int coordinate, double value) => Set("transformer.wte.weight", token, coordinate, value);

    public void PositionEmbedding(int position, int coordinate, double value) => Set("transformer.wpe.weight", position, coordinate, value);

    public void Unembedding(int token, int coordinate, double value) => Set("lm_head.weight", token, coordinate, value);

    /// <summary>Query dimension <paramref name="dim"/> of a head reads residual coordinate <paramref name="coordinate"/>.</summary>
    public void Query(int layer, int head, int dim, int coordinate, double value = 1) => Qkv(layer, 0, head, dim, coordinate, value);

    public void Key(int layer, int head, int dim, int coordinate, double value = 1) => Qkv(layer, 1, head, dim, coordinate, value);

    /// <summary>Head dimension <paramref name="dim"/> carries residual coordinate <paramref name="from"/>, and the output projection writes it to <paramref name="to"/>.</summary>
    public void Copy(int layer, int head, int dim, int from, int to)
    {
        Qkv(layer, 2, head, dim, from, 1);
        Set($"transformer.h.{layer}.attn.c_proj.weight", to, (head * config.HeadDim) + dim, 1);
    }

    /// <summary>Writes the MLP of block <paramref name="layer"/> stage by stage.</summary>
    public MlpWriter Mlp(int layer) => new(this, layer, config.MlpWidth, config.MlpDepth);

    /// <summary>Copies the sheet into <paramref name="model"/>, whose parameters it was made from.</summary>
    public void Apply(Gpt model)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in model.named_parameters())
        {
            var (values, shape) = parameters[name];
            using var source = tensor(values, dtype: ScalarType.Float64).view(shape);
            parameter.copy_(source);
        }
    }

    private void Qkv(int layer, int part, int head, int dim, int coordinate, double value)
    {
        if (dim >= config.HeadDim)
        {
            throw new InvalidOperationException($"head dimension {dim} outside {config.HeadDim}");
        }
        Set($"transformer.h.{layer}.attn.c_attn.weight", (part * config.Width) + (head * config.HeadDim) + dim, coordinate, value);
    }
}

/// <summary>
/// An affine function of the previous MLP stage's units (or, for the first stage, of residual
/// coordinates): Σ weight · input + bias.
/// </summary>
internal sealed record Affine(IReadOnlyList<(int Input, double Weight)> Terms, double Bias = 0)
{
    public static Affine Of(int input, double weight = 1, double bias = 0) => new([(input, weight)], bias);

    public static Affine Sum(IEnumerable<int> inputs) => new([.. inputs.Select(i => (i, 1.0))]);

    public Affine Plus(double bias) => this with { Bias = Bias + bias };

    public Affine Plus(Affine other) => new([.. Terms, .. other.Terms], Bias + other.Bias);

    public Affine Times(double factor) => new([.. Terms.Select(t => (t.Input, t.Weight * factor))], Bias * factor);
}

/// <summary>
/// Writes a ReLU MLP one hidden layer (stage) at a time: <see cref="Unit"/> adds a hidden unit
/// ReLU(affine of the previous stage), <see cref="Next"/> moves to the following stage, and
/// <see cref="Output"/> writes <c>c_proj</c>. Stages left over at the end pass their values on.
/// </summary>
internal sealed class MlpWriter(WeightSheet sheet, int layer, int width, int depth)
{
    private int stage;
    private int units;

    public int Stage => stage;

    public int StagesLeft => depth - stage - 1;

    public int Unit(Affine input)
    {
        if (units >= width)
        {
            throw new InvalidOperationException($"MLP stage {stage} needs more than {width} units");
        }
        string name = stage == 0 ? $"transformer.h.{layer}.mlp.c_fc" : $"transformer.h.{layer}.mlp.c_mid.{stage - 1}";
        foreach (var (from, weight) in input.Terms)
        {
            sheet.Set(name + ".weight", units, from, weight);
        }
        sheet.Set(name + ".bias", units, -1, input.Bias);
        return units++;
    }

    /// <summary>Starts the next stage.</summary>
    public void Next()
    {
        if (stage + 1 >= depth)
        {
            throw new InvalidOperationException($"the MLP has only {depth} hidden layers");
        }
        stage++;
        units = 0;
    }

    /// <summary>
    /// Ends the MLP: adds <paramref name="value"/> (an affine function of the current stage, which must
    /// be non-negative) to residual coordinate <paramref name="coordinate"/>, first carrying it through
    /// the remaining stages (ReLU leaves a non-negative value as it is). One output per MLP.
    /// </summary>
    public void Output(int coordinate, Affine value)
    {
        while (StagesLeft > 0)
        {
            Next();
            value = Affine.Of(Unit(value));
        }
        foreach (var (from, weight) in value.Terms)
        {
            sheet.Set($"transformer.h.{layer}.mlp.c_proj.weight", coordinate, from, weight);
        }
        sheet.Set($"transformer.h.{layer}.mlp.c_proj.bias", coordinate, -1, value.Bias);
    }
}
