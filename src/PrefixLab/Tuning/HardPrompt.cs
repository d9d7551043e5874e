using PrefixLab.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Prompting: chosen real tokens in the P prefix positions, in place of the padding. Nothing is
/// trained; it is the baseline the paper compares virtual tokens with.
/// </summary>
public sealed class HardPrompt : TuningMethod
{
    private readonly long[] tokens;

    /// <summary>Puts <see cref="TuningSettings.Tokens"/> into the first positions of every input.</summary>
    public HardPrompt(Gpt model, TuningSettings settings) : base(model, settings, trainsBase: false)
    {
        var chosen = settings.Tokens ?? throw new PrefixLabException("hard-prompt needs tokens (--tokens \"3 3 3\")");
        PrefixLabException.Check(chosen.Count == settings.PrefixSize, $"hard-prompt has {chosen.Count} tokens for {settings.PrefixSize} prefix positions");
        PrefixLabException.Check(chosen.All(t => t >= 0 && t < model.Config.VocabSize), $"hard-prompt tokens must be between 0 and {model.Config.VocabSize - 1}");
        tokens = [.. chosen.Select(t => (long)t)];
        Hook(HookPoints.ResidPre(0), (activation, context) =>
        {
            using var ids = tensor(tokens, [1, tokens.Length]);
            return ReplacePrefixRows(activation, context, model.Embed(ids, 0)[0]);
        });
    }

    /// <inheritdoc />
    public override string Name => "hard-prompt";

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
}
