using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>The hard prompt's settings: its tokens, one per prefix position.</summary>
public sealed record HardPromptSettings : ContextSettings
{
    /// <summary>The hard prompt's tokens, one per prefix position.</summary>
    public IReadOnlyList<int>? Tokens { get; init; }

    /// <summary>As many positions as tokens, when the tokens are given.</summary>
    public override int DefaultPrefixSize(int padding) => Tokens?.Count ?? base.DefaultPrefixSize(padding);

    /// <inheritdoc />
    public override TuningSettings ValidateFor(ModelShape config)
    {
        base.ValidateFor(config);
        PrefixLabException.Check(Tokens is null || Tokens.Count == PrefixSize, $"hard-prompt has {Tokens?.Count} tokens for {PrefixSize} prefix positions");
        return this;
    }
}

/// <summary>
/// Prompting: chosen real tokens in the P prefix positions, in place of the padding. Nothing is
/// trained; it is the baseline the paper compares virtual tokens with. PEFT holds it as a prompt
/// (<c>PROMPT_TUNING</c>) whose virtual tokens are the tokens' embeddings; such a file loads back as a
/// soft prompt.
/// </summary>
public sealed class HardPrompt : TuningMethod<HardPromptSettings>
{
    private readonly long[] tokens;

    /// <summary>Puts <see cref="HardPromptSettings.Tokens"/> into the first positions of every input.</summary>
    public HardPrompt(ILanguageModel model, HardPromptSettings settings) : base(model, settings, trainsBase: false)
    {
        var chosen = settings.Tokens ?? throw new PrefixLabException("hard-prompt needs tokens (--tokens \"3 3 3\")");
        PrefixLabException.Check(chosen.Count == settings.PrefixSize, $"hard-prompt has {chosen.Count} tokens for {settings.PrefixSize} prefix positions");
        PrefixLabException.Check(chosen.All(t => t >= 0 && t < model.Shape.VocabSize), $"hard-prompt tokens must be between 0 and {model.Shape.VocabSize - 1}");
        tokens = [.. chosen.Select(t => (long)t)];
        Hook(HookPoints.ResidPre(0), (activation, context) =>
        {
            using var ids = tensor(tokens, [1, tokens.Length]);
            return ReplacePrefixRows(activation, context, model.Embed(ids, 0)[0]);
        });
    }

    /// <summary>The hard prompt's registration: a context method with fixed tokens and no size to vary.</summary>
    public static MethodKind Kind { get; } = new Descriptor();

    /// <inheritdoc />
    public override string Name => Kind.Name;

    /// <inheritdoc />
    public override int? PaddingRows => Settings.PrefixSize;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> Parameters => [];

    /// <inheritdoc />
    public override double DefaultLearningRate => 0;

    /// <inheritdoc />
    public override IReadOnlyDictionary<string, Tensor> SaveTensors() =>
        new Dictionary<string, Tensor> { ["prompt.tokens"] = tensor(tokens) };

    /// <inheritdoc />
    public override void LoadTensors(IReadOnlyDictionary<string, Tensor> tensors)
    {
        // The tokens come from the settings; the file's copy must agree with them.
        if (!tensors.TryGetValue("prompt.tokens", out var saved) || !saved.data<long>().ToArray().SequenceEqual(tokens))
        {
            throw new PrefixLabException("hard-prompt adapter's tokens do not match its settings");
        }
    }

    private sealed class Descriptor : MethodKind<HardPromptSettings>
    {
        public override string Name => "hard-prompt";

        public override bool IsContext => true;

        public override IReadOnlyList<Knob> Knobs { get; } =
        [
            ContextKnobs.PrefixSize,
            new Knob<HardPromptSettings>("tokens", KnobType.Tokens, "\"3 3 3\"", "hard-prompt tokens from the model's vocabulary, one per prefix position", 0, 0, (s, v) => s with { Tokens = (int[])v })
            {
                Validate = (model, s, what, _) =>
                {
                    if (s.Tokens is { } tokens)
                    {
                        PrefixLabException.Check(tokens.Count == s.PrefixSize, $"option {what} has {tokens.Count} token(s) for --prefix-size {s.PrefixSize}: give one per prefix position");
                        int outside = tokens.FirstOrDefault(t => t < 0 || t >= model.Shape.VocabSize, -1);
                        PrefixLabException.Check(outside == -1, $"option {what}: token {outside} is outside the model's vocabulary 0-{model.Shape.VocabSize - 1}");
                    }
                },
            },
        ];

        // PEFT's virtual tokens are the tokens' embeddings (the model adds the positions).
        public override IPeftMapping Peft { get; } = new PromptPeft(imports: false, (method, model) =>
        {
            using var ids = tensor(((HardPrompt)method).Settings.Tokens!.Select(t => (long)t).ToArray());
            return model.TokenEmbedding.index_select(0, ids).to_type(ScalarType.Float32).contiguous();
        });

        protected override ITuningMethod Attach(ILanguageModel model, HardPromptSettings settings, Generator generator) => new HardPrompt(model, settings);
    }
}
