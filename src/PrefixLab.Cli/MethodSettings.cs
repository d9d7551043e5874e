using System.Globalization;
using PrefixLab.Tuning;

namespace PrefixLab.Cli;

/// <summary>Reads a method's settings from the options shared by <c>tune</c> and <c>params</c>.</summary>
internal static class MethodSettings
{
    public static TuningSettings Read(Arguments args, int defaultPrefixSize)
    {
        var tokens = args.Optional("tokens") is { } text ? ParseTokens(text) : null;
        int prefixSize = args.Int("prefix-size", tokens?.Count ?? Math.Max(1, defaultPrefixSize), 1, 100_000);
        var settings = new TuningSettings
        {
            PrefixSize = prefixSize,
            Rank = args.Int("rank", 1, 1, 100_000),
            Alpha = args.Has("alpha") ? args.Double("alpha", 1, double.Epsilon) : null,
            Tokens = tokens,
            ProjectionHidden = args.Has("projection") ? args.Int("projection", 1, 1, 1 << 20) : null,
            InitStd = args.Double("init-std", 1.0, double.Epsilon, 1e6),
        };
        return args.Optional("targets") is { } targets
            ? settings with { Targets = [.. targets.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)] }
            : settings;
    }

    public static List<int> ParseTokens(string text)
    {
        var parts = text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries);
        var tokens = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int token))
            {
                throw new PrefixLabException($"'{part}' in \"{text}\" is not a token id");
            }
            tokens.Add(token);
        }
        PrefixLabException.Check(tokens.Count > 0, "no tokens given");
        return tokens;
    }
}
