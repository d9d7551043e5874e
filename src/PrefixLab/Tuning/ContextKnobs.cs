using PrefixLab.Model;

namespace PrefixLab.Tuning;

/// <summary>
/// What the settings of the methods that put vectors or tokens in front of the content (hard prompt,
/// soft prompt, prefix, prefix-kv) share: the number of those positions.
/// </summary>
public abstract record ContextSettings : TuningSettings
{
    /// <summary>Virtual tokens or prefix vectors.</summary>
    public int PrefixSize { get; init; } = 1;

    /// <summary>The prefix size when the option is left out, for a model with <paramref name="padding"/> padding positions.</summary>
    public virtual int DefaultPrefixSize(int padding) => Math.Max(1, padding);

    /// <summary>The prefix size, which a prompt or prefix needs to be at least 1; <paramref name="method"/> names it in the error.</summary>
    public int RequiredPrefixSize(string method)
    {
        PrefixLabException.Check(PrefixSize >= 1, $"{method} needs a prefix size of at least 1 (got {PrefixSize})");
        return PrefixSize;
    }

    /// <summary>A prefix no longer than the block size (docs/reliability.md).</summary>
    public override TuningSettings ValidateFor(ModelShape config)
    {
        PrefixLabException.Check(PrefixSize >= 0 && PrefixSize <= config.Positions, $"prefix size must be between 0 and the model's block size {config.Positions} (got {PrefixSize})");
        return this;
    }
}

/// <summary>The knobs the methods that put vectors or tokens in front of the content share.</summary>
public static class ContextKnobs
{
    /// <summary>Virtual tokens or prefix vectors; by default the model's padding positions (at least 1).</summary>
    public static Knob PrefixSize { get; } = new Knob<ContextSettings>("prefix-size", KnobType.Int, "P",
        "virtual tokens / prefix vectors, at most the model's positions − 1", 1, 100_000,
        (s, v) => s with { PrefixSize = (int)v })
    {
        DefaultText = "the model's padding positions (hard-prompt: one per token of --tokens)",
        Default = (padding, s) => s.DefaultPrefixSize(padding),
        Validate = (model, s, what, given) =>
        {
            if (given)
            {
                CheckPrefixSize(model, s.PrefixSize, what);
            }
        },
    };

    /// <summary>The standard deviation of the initial vectors.</summary>
    public static Knob InitStd { get; } = new Knob<PromptSettings>("init-std", KnobType.Number, "X",
        "std of the initial prefix / soft-prompt vectors", 0, 1e3,
        (s, v) => s with { InitStd = (double)v })
    {
        DefaultText = "1, the paper's N(0, 1)",
    };

    /// <summary>The prefix size as the size <c>params --match</c> varies.</summary>
    public static SizeKnob Size { get; } = new SizeKnob<ContextSettings>("prefix-size", "prefix size", (s, n) => s with { PrefixSize = n }, s => s.PrefixSize);

    /// <summary>A prefix must leave the input at least one of the model's positions.</summary>
    public static void CheckPrefixSize(ILanguageModel model, int prefixSize, string what) =>
        PrefixLabException.Check(prefixSize < model.Shape.Positions,
            $"{what} {prefixSize} leaves no position for the input: the model has {model.Shape.Positions} positions, so at most {model.Shape.Positions - 1}");
}
