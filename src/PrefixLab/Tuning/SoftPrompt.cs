using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Settings of the methods that train vectors in front of the content: the soft prompt, the paper's
/// prefix (and prefix-kv, which adds its own).
/// </summary>
public record PromptSettings : ContextSettings
{
    /// <summary>Standard deviation of the initial vectors (the paper: N(0, 1)).</summary>
    public double InitStd { get; init; } = 1.0;

    /// <inheritdoc />
    public override TuningSettings ValidateFor(ModelShape config)
    {
        base.ValidateFor(config);
        PrefixLabException.Check(double.IsFinite(InitStd) && InitStd >= 0, $"init std must be a finite number at least 0 (got {InitStd})");
        return this;
    }
}

/// <summary>
/// Soft prompting (prompt tuning): P trainable vectors replace the whole input vector (token and
/// position embedding) at the P prefix positions, at the input of the first block only. In PEFT it is
/// <c>PROMPT_TUNING</c>: one tensor <c>prompt_embeddings</c> <c>[P, width]</c> of input embeddings to
/// which the model adds position embeddings 0 … P−1, where the soft prompt holds the whole input vector,
/// so the two differ by those position embeddings. In both tools the content follows at positions P ….
/// </summary>
public sealed class SoftPrompt : TuningMethod<PromptSettings>
{
    private readonly Parameter prompt;

    /// <summary>
    /// Creates P vectors drawn from N(0, <see cref="PromptSettings.InitStd"/>²) by
    /// <paramref name="generator"/> (seed 0 when null), in the model's floating point type (a float64
    /// construction needs float64 virtual tokens), and attaches them.
    /// </summary>
    public SoftPrompt(ILanguageModel model, PromptSettings settings, Generator? generator = null) : base(model, settings, trainsBase: false)
    {
        prompt = NormalParameter([settings.RequiredPrefixSize(Name), model.Shape.Width], settings.InitStd, generator, model.Module.parameters().First().dtype);
        Hook(HookPoints.ResidPre(0), (activation, context) => ReplacePrefixRows(activation, context, prompt));
    }

    /// <summary>The soft prompt's registration: a context method sized by its prompt, PEFT's prompt tuning.</summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <inheritdoc />
    public override int? PaddingRows => Settings.PrefixSize;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [prompt];

    /// <inheritdoc />
    public override double DefaultLearningRate => 5e-5;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        new Dictionary<string, Tensor> { ["prompt.embeddings"] = prompt };

    private sealed class Descriptor : MethodKind<PromptSettings>
    {
        public override string Name => "soft-prompt";

        public override bool IsContext => true;

        public override SizeKnob Size => ContextKnobs.Size;

        public override IReadOnlyList<Knob> Knobs { get; } = [ContextKnobs.PrefixSize, ContextKnobs.InitStd];

        // PEFT's virtual tokens are the input vectors less the position embeddings the model adds there.
        public override IPeftMapping Peft { get; } = new PromptPeft(imports: true, (method, model) =>
        {
            var positions = PromptPeft.PositionRows(model, ((SoftPrompt)method).Settings.PrefixSize);
            return (method.SaveTensors()["prompt.embeddings"].to_type(ScalarType.Float32) - positions).contiguous();
        });

        protected override ITuningMethod Attach(ILanguageModel model, PromptSettings settings, Generator generator) => new SoftPrompt(model, settings, generator);
    }
}

/// <summary>
/// A prompt as PEFT's <c>PROMPT_TUNING</c> (see <see cref="SoftPrompt"/>): exported through
/// <paramref name="embeddings"/> (PEFT's <c>prompt_embeddings</c> of the method), imported, when
/// <paramref name="imports"/>, as a soft prompt.
/// </summary>
internal sealed class PromptPeft(bool imports, Func<ITuningMethod, ILanguageModel, Tensor> embeddings) : IPeftMapping
{
    /// <inheritdoc />
    public string PeftType => "PROMPT_TUNING";

    /// <inheritdoc />
    public bool Imports => imports;

    /// <inheritdoc />
    public Dictionary<string, Tensor> Export(ITuningMethod method, ILanguageModel model, JsonObject config)
    {
        PeftFormat.AddShape(config, model, ((ContextSettings)method.Settings).PrefixSize);
        config["prompt_tuning_init"] = "RANDOM";
        return new() { [PeftFormat.PromptEmbeddings] = embeddings(method, model) };
    }

    /// <inheritdoc />
    public (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, ILanguageModel model, string directory)
    {
        var c = model.Shape;
        int size = PeftFormat.Get<int>(config, "num_virtual_tokens", directory);
        int width = PeftFormat.Get<int>(config, "token_dim", directory);
        PrefixLabException.Check(width == c.Width, $"'{directory}' is a prompt of width {width}; the model has width {c.Width}");
        PrefixLabException.Check((config["num_transformer_submodules"]?.GetValue<int>() ?? 1) == 1, $"'{directory}': encoder-decoder prompts are not supported");
        PrefixLabException.Check(size >= 1 && size < c.Positions, $"'{directory}': num_virtual_tokens is {size}; the model has {c.Positions} positions");
        PrefixLabException.Check(tensors.TryGetValue(PeftFormat.PromptEmbeddings, out var embedded), $"'{directory}' has no tensor '{PeftFormat.PromptEmbeddings}'");
        long[] expected = [size, width];
        PrefixLabException.Check(embedded!.shape.SequenceEqual(expected),
            $"'{directory}': {PeftFormat.PromptEmbeddings} has shape [{string.Join(", ", embedded.shape)}], expected [{string.Join(", ", expected)}]");
        // The model adds position embeddings 0 … P−1 to PEFT's virtual tokens; PrefixLab's soft prompt is the sum.
        using var noGrad = no_grad();
        var prompt = embedded.to_type(ScalarType.Float32) + PositionRows(model, size);
        return (new PromptSettings { PrefixSize = size }, new() { ["prompt.embeddings"] = prompt });
    }

    /// <summary>The position embeddings the model adds at positions 0 … <paramref name="count"/>−1 (zeros for a family without learned positions), in float32.</summary>
    internal static Tensor PositionRows(ILanguageModel model, int count) =>
        model.PositionEmbedding is { } rows ? rows[..count].to_type(ScalarType.Float32) : zeros(count, model.Shape.Width);
}
