using System.Globalization;
using PrefixLab.Model;
using PrefixLab.Tuning;
using TorchSharp.Modules;

namespace PrefixLab.Cli;

/// <summary>Reads a method's settings from the options shared by <c>tune</c> and <c>params</c>, checked against the model.</summary>
internal static class MethodSettings
{
    /// <summary>The options' text in the usage of <c>tune</c> and <c>params</c>.</summary>
    public const string Usage = """
          --prefix-size P     virtual tokens / prefix vectors, 1 to the model's positions − 1
                              (default: the model's padding positions)
          --rank r            LoRA rank, 1 to the smallest in or out width of the targeted layers (default 1)
          --alpha a           LoRA alpha, more than 0 and at most 1e6; the update is scaled by alpha / r (default r)
          --targets a,b       LoRA: Linear layers whose names contain these (default c_fc,c_proj)
          --tokens "3 3 3"    hard-prompt tokens from the model's vocabulary, one per prefix position
          --projection H      prefix-kv: train through an MLP of width H, 1-65536 (folded when saved)
          --init-std X        std of the initial prefix / soft-prompt vectors, more than 0 and at most 1000
                              (default 1, the paper's N(0, 1))
        """;

    public static TuningSettings Read(Arguments args, Gpt model, int defaultPrefixSize)
    {
        var tokens = args.Optional("tokens") is { } text ? ParseTokens(text, "--tokens") : null;
        bool prefixGiven = args.Has("prefix-size");
        int prefixSize = args.Int("prefix-size", tokens?.Count ?? Math.Max(1, defaultPrefixSize), 1, 100_000);
        var targets = args.Optional("targets") is { } names
            ? names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : null;
        PrefixLabException.Check(targets is null || targets.Length > 0, "option --targets names no layer (give names such as c_fc,c_proj)");
        var settings = new TuningSettings
        {
            PrefixSize = prefixSize,
            Rank = args.Int("rank", 1, 1, 100_000),
            Alpha = args.Has("alpha") ? args.Double("alpha", 1, 0, 1e6, aboveMin: true) : null,
            Tokens = tokens,
            ProjectionHidden = args.IntIfGiven("projection", 1, 65_536),
            InitStd = args.Double("init-std", 1.0, 0, 1e3, aboveMin: true),
        };
        settings = targets is null ? settings : settings with { Targets = targets };
        if (prefixGiven)
        {
            CheckPrefixSize(model, prefixSize, "--prefix-size");
        }
        CheckRank(model, settings, "--rank");
        if (tokens is not null)
        {
            PrefixLabException.Check(!prefixGiven || tokens.Count == prefixSize, $"option --tokens has {tokens.Count} token(s) for --prefix-size {prefixSize}: give one per prefix position");
            int outside = tokens.FirstOrDefault(t => t < 0 || t >= model.Config.VocabSize, -1);
            PrefixLabException.Check(tokens.All(t => t >= 0 && t < model.Config.VocabSize), $"option --tokens: token {outside} is outside the model's vocabulary 0-{model.Config.VocabSize - 1}");
        }
        return settings;
    }

    /// <summary>A prefix must leave the input at least one of the model's positions.</summary>
    public static void CheckPrefixSize(Gpt model, int prefixSize, string what) =>
        PrefixLabException.Check(prefixSize < model.Config.BlockSize,
            $"{what} {prefixSize} leaves no position for the input: the model has {model.Config.BlockSize} positions, so at most {model.Config.BlockSize - 1}");

    /// <summary>
    /// LoRA's rank is at most the smaller width of every targeted layer (a larger one adds parameters but
    /// no expressive power, and the factor matrices grow without bound).
    /// </summary>
    public static void CheckRank(Gpt model, TuningSettings settings, string what)
    {
        var smallest = model.named_modules()
            .Where(m => m.module is Linear && settings.Targets.Any(t => m.name.Contains(t, StringComparison.Ordinal)))
            .Select(m => (m.name, Shape: ((Linear)m.module).weight.shape))
            .OrderBy(m => Math.Min(m.Shape[0], m.Shape[1]))
            .FirstOrDefault();
        if (smallest.name is null)
        {
            return; // no layer matches: LoRA itself says so, and other methods ignore the rank
        }
        long limit = Math.Min(smallest.Shape[0], smallest.Shape[1]);
        PrefixLabException.Check(settings.Rank <= limit,
            $"{what} {settings.Rank} is above {limit}, the smaller width of targeted layer {smallest.name} ({smallest.Shape[1]} in, {smallest.Shape[0]} out): LoRA's rank is at most min(in, out)");
    }

    /// <summary>Token ids separated by spaces or commas; <paramref name="what"/> names the option in errors.</summary>
    public static List<int> ParseTokens(string text, string what)
    {
        var parts = text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
        var tokens = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int token) || token < 0)
            {
                throw new PrefixLabException($"option {what}: '{part}' in \"{text}\" is not a token id (a whole number, 0 or more)");
            }
            tokens.Add(token);
        }
        PrefixLabException.Check(tokens.Count > 0, $"option {what} holds no token ids");
        return tokens;
    }
}
