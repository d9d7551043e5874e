using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Soft prompting (prompt tuning): P trainable vectors replace the whole input vector (token and
/// position embedding) at the P prefix positions, at the input of the first block only. In PEFT it is
/// <c>PROMPT_TUNING</c>: one tensor <c>prompt_embeddings</c> <c>[P, width]</c> of input embeddings to
/// which the model adds position embeddings 0 … P−1, where the soft prompt holds the whole input vector,
/// so the two differ by those position embeddings. In both tools the content follows at positions P ….
/// </summary>
public sealed class SoftPrompt : TuningMethod
{
    private readonly Parameter prompt;

    /// <summary>
    /// Creates P vectors drawn from N(0, <see cref="TuningSettings.InitStd"/>²) by
    /// <paramref name="generator"/> (seed 0 when null), in the model's floating point type (a float64
    /// construction needs float64 virtual tokens), and attaches them.
    /// </summary>
    public SoftPrompt(Gpt model, TuningSettings settings, Generator? generator = null) : base(model, settings, trainsBase: false)
    {
        prompt = NormalParameter([RequiredPrefixSize(), model.Config.Width], settings.InitStd, generator, model.parameters().First().dtype);
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

    private sealed class Descriptor : MethodKind
    {
        public override string Name => "soft-prompt";

        public override bool IsContext => true;

        public override SizeKnob Size => ContextKnobs.Size;

        public override IReadOnlyList<Knob> Knobs { get; } = [ContextKnobs.PrefixSize, ContextKnobs.InitStd];

        // PEFT's virtual tokens are the input vectors less the position embeddings the model adds there.
        public override IPeftMapping Peft { get; } = new PromptPeft(imports: true, (method, model) =>
        {
            var positions = model.PositionEmbedding[..method.Settings.PrefixSize].to_type(ScalarType.Float32);
            return (method.SaveTensors()["prompt.embeddings"].to_type(ScalarType.Float32) - positions).contiguous();
        });

        public override ITuningMethod Attach(Gpt model, TuningSettings settings, Generator generator) => new SoftPrompt(model, settings, generator);
    }
}

/// <summary>
/// A prompt as PEFT's <c>PROMPT_TUNING</c> (see <see cref="SoftPrompt"/>): exported through
/// <paramref name="embeddings"/> (PEFT's <c>prompt_embeddings</c> of the method), imported, when
/// <paramref name="imports"/>, as a soft prompt.
/// </summary>
internal sealed class PromptPeft(bool imports, Func<ITuningMethod, Gpt, Tensor> embeddings) : IPeftMapping
{
    /// <inheritdoc />
    public string PeftType => "PROMPT_TUNING";

    /// <inheritdoc />
    public bool Imports => imports;

    /// <inheritdoc />
    public Dictionary<string, Tensor> Export(ITuningMethod method, Gpt model, JsonObject config)
    {
        PeftFormat.AddShape(config, model, method.Settings.PrefixSize);
        config["prompt_tuning_init"] = "RANDOM";
        return new() { [PeftFormat.PromptEmbeddings] = embeddings(method, model) };
    }

    /// <inheritdoc />
    public (TuningSettings Settings, Dictionary<string, Tensor> Tensors) Import(JsonObject config, Dictionary<string, Tensor> tensors, Gpt model, string directory)
    {
        var c = model.Config;
        int size = PeftFormat.Get<int>(config, "num_virtual_tokens", directory);
        int width = PeftFormat.Get<int>(config, "token_dim", directory);
        PrefixLabException.Check(width == c.Width, $"'{directory}' is a prompt of width {width}; the model has width {c.Width}");
        PrefixLabException.Check((config["num_transformer_submodules"]?.GetValue<int>() ?? 1) == 1, $"'{directory}': encoder-decoder prompts are not supported");
        PrefixLabException.Check(size >= 1 && size < c.BlockSize, $"'{directory}': num_virtual_tokens is {size}; the model has {c.BlockSize} positions");
        PrefixLabException.Check(tensors.TryGetValue(PeftFormat.PromptEmbeddings, out var embedded), $"'{directory}' has no tensor '{PeftFormat.PromptEmbeddings}'");
        long[] expected = [size, width];
        PrefixLabException.Check(embedded!.shape.SequenceEqual(expected),
            $"'{directory}': {PeftFormat.PromptEmbeddings} has shape [{string.Join(", ", embedded.shape)}], expected [{string.Join(", ", expected)}]");
        // The model adds position embeddings 0 … P−1 to PEFT's virtual tokens; PrefixLab's soft prompt is the sum.
        using var noGrad = no_grad();
        var prompt = embedded.to_type(ScalarType.Float32) + model.PositionEmbedding[..size].to_type(ScalarType.Float32);
        return (new TuningSettings { PrefixSize = size }, new() { ["prompt.embeddings"] = prompt });
    }
}
