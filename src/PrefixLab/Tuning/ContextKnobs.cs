using PrefixLab.Model;

namespace PrefixLab.Tuning;

/// <summary>The knobs the methods that put vectors or tokens in front of the content share.</summary>
public static class ContextKnobs
{
    /// <summary>Virtual tokens or prefix vectors; by default the model's padding positions (at least 1).</summary>
    public static Knob PrefixSize { get; } = new("prefix-size", KnobType.Int, "P",
        "virtual tokens / prefix vectors, at most the model's positions − 1", 1, 100_000,
        (s, v) => s with { PrefixSize = (int)v })
    {
        Default = "the model's padding positions (hard-prompt: one per token of --tokens)",
        DefaultFor = (padding, s) => s.Tokens?.Count ?? Math.Max(1, padding),
        Check = (model, s, what, given) =>
        {
            if (given)
            {
                CheckPrefixSize(model, s.PrefixSize, what);
            }
        },
    };

    /// <summary>The standard deviation of the initial vectors.</summary>
    public static Knob InitStd { get; } = new("init-std", KnobType.Number, "X",
        "std of the initial prefix / soft-prompt vectors", 0, 1e3,
        (s, v) => s with { InitStd = (double)v })
    {
        Default = "1, the paper's N(0, 1)",
    };

    /// <summary>The prefix size as the size <c>params --match</c> varies.</summary>
    public static SizeKnob Size { get; } = new("prefix-size", "prefix size", (s, n) => s with { PrefixSize = n }, s => s.PrefixSize);

    /// <summary>A prefix must leave the input at least one of the model's positions.</summary>
    public static void CheckPrefixSize(Gpt model, int prefixSize, string what) =>
        PrefixLabException.Check(prefixSize < model.Config.BlockSize,
            $"{what} {prefixSize} leaves no position for the input: the model has {model.Config.BlockSize} positions, so at most {model.Config.BlockSize - 1}");
}
