using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace PrefixLab.Cli;

/// <summary>
/// Declares an option once: its name, value type, description, default and range. The range is checked
/// while parsing (one line naming the option, the bound and the value) and written into the
/// description; the default is the parser's, so the help shows the value the command really uses.
/// An option whose default depends on what it is used with (the model, the method) is nullable and
/// says its default in words.
/// </summary>
internal static class Opt
{
    /// <summary>A text value; <paramref name="required"/> makes the parser refuse its absence.</summary>
    public static Option<string?> Text(string name, string valueName, string description, bool required = false, string? defaultText = null) =>
        new(name)
        {
            HelpName = valueName,
            Description = WithDefault(description, defaultText),
            Required = required,
            CustomParser = r => Single(r),
        };

    /// <summary>A text value with a fixed default, shown in the help.</summary>
    public static Option<string> TextOr(string name, string valueName, string description, string fallback) =>
        new(name)
        {
            HelpName = valueName,
            Description = description,
            DefaultValueFactory = _ => fallback,
            CustomParser = r => Single(r) ?? fallback,
        };

    /// <summary>A text that must be given; the parser reads it as non-null.</summary>
    public static Option<string> Required(string name, string valueName, string description) =>
        new(name)
        {
            HelpName = valueName,
            Description = description,
            Required = true,
            CustomParser = r => Single(r) ?? "",
        };

    /// <summary>A switch: present or not (<c>--name true</c> and <c>--name false</c> also work).</summary>
    public static Option<bool> Flag(string name, string description) => new(name) { Description = description };

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>] with a default.</summary>
    public static Option<int> Int(string name, string description, int fallback, int min, int max, string valueName = "N") =>
        new(name)
        {
            HelpName = valueName,
            Description = $"{description} ({Range(min, max)})",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => Single(r) is { } text && ParseLong(r, text, min, max) is long v ? (int)v : fallback,
        };

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>], null when absent; <paramref name="defaultText"/> says what absence means.</summary>
    public static Option<int?> IntOrNull(string name, string description, int min, int max, string? defaultText = null, string valueName = "N") =>
        new(name)
        {
            HelpName = valueName,
            Description = WithDefault($"{description} ({Range(min, max)})", defaultText),
            CustomParser = r => Single(r) is { } text ? (int?)ParseLong(r, text, min, max) : null,
        };

    /// <summary>A seed: a whole number, 0 or more.</summary>
    public static Option<ulong> Seed(string name, string description, ulong fallback) =>
        new(name)
        {
            HelpName = "S",
            Description = $"{description} ({Range(0, long.MaxValue)})",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => Single(r) is { } text && ParseLong(r, text, 0, long.MaxValue) is long v ? (ulong)v : fallback,
        };

    /// <summary>
    /// A finite number in [<paramref name="min"/>, <paramref name="max"/>]; with <paramref name="aboveMin"/>
    /// it must be greater than <paramref name="min"/> (a rate of 0 trains nothing). Null when absent.
    /// </summary>
    public static Option<double?> DoubleOrNull(string name, string description, double min, double max, bool aboveMin = false, string? defaultText = null, string valueName = "X") =>
        new(name)
        {
            HelpName = valueName,
            Description = WithDefault($"{description} ({DoubleRange(min, max, aboveMin)})", defaultText),
            CustomParser = r => Single(r) is { } text ? ParseDouble(r, text, min, max, aboveMin) : null,
        };

    /// <summary>A finite number in range with a default.</summary>
    public static Option<double> Double(string name, string description, double fallback, double min, double max, bool aboveMin = false) =>
        new(name)
        {
            HelpName = "X",
            Description = $"{description} ({DoubleRange(min, max, aboveMin)})",
            DefaultValueFactory = _ => fallback,
            CustomParser = r => Single(r) is { } text && ParseDouble(r, text, min, max, aboveMin) is double v ? v : fallback,
        };

    /// <summary>One word among <paramref name="choices"/>, the first being the default; read with <see cref="ChoiceOption{T}.Read"/>.</summary>
    public static ChoiceOption<T> Choice<T>(string name, string description, params (string Word, T Value)[] choices) => new(name, description, choices);

    /// <summary>
    /// A value read by <paramref name="parse"/>, whose <see cref="PrefixLabException"/> becomes the
    /// option's one-line error (a task name, a profile); null when absent.
    /// </summary>
    public static Option<T?> Parsed<T>(string name, string valueName, string description, Func<string, T> parse, string? defaultText = null, bool required = false)
        where T : class =>
        new(name)
        {
            HelpName = valueName,
            Description = WithDefault(description, defaultText),
            Required = required,
            CustomParser = r => Single(r) is { } text ? Catch(r, () => parse(text)) : null,
        };

    /// <summary>A value type read by <paramref name="parse"/> (as <see cref="Parsed{T}"/>); null when absent.</summary>
    public static Option<T?> ParsedValue<T>(string name, string valueName, string description, Func<string, T> parse, string? defaultText = null)
        where T : struct =>
        new(name)
        {
            HelpName = valueName,
            Description = WithDefault(description, defaultText),
            CustomParser = r => Single(r) is { } text ? Catch(r, () => new Box<T>(parse(text)))?.Value : null,
        };

    /// <summary>
    /// Words separated by commas, blanks dropped unless <paramref name="keepBlanks"/> (where a word's
    /// place counts, as label names'); an option given without a word is refused ("option --only names
    /// no spec"), so an empty list means the option is absent.
    /// </summary>
    public static Option<string[]> List(string name, string valueName, string description, string what, string? defaultText = null, bool keepBlanks = false) =>
        Collection(name, valueName, WithDefault(description, defaultText), text =>
        {
            var words = keepBlanks ? text.Split(',') : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            PrefixLabException.Check(words.Length > 0, $"option {name} names no {what}");
            return words;
        });

    /// <summary>Token ids separated by spaces or commas, at least one; an empty list means the option is absent.</summary>
    public static Option<int[]> TokenIds(string name, string description, string? defaultText = null) =>
        Collection(name, "\"IDS\"", WithDefault(description, defaultText), text => TokenList(text, name));

    /// <summary>
    /// A list from one word. The parser gives list-typed options an empty list when they are absent and
    /// lets them take several words; here they take exactly one, so a stray word after them is refused.
    /// </summary>
    private static Option<T[]> Collection<T>(string name, string valueName, string description, Func<string, T[]> parse) =>
        new(name)
        {
            HelpName = valueName,
            Description = description,
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = r => Single(r) is { } text ? Catch(r, () => parse(text)) ?? [] : [],
        };

    /// <summary>Token ids separated by spaces or commas, each a whole number, 0 or more; at least one.</summary>
    private static int[] TokenList(string text, string name)
    {
        var tokens = new List<int>();
        foreach (var part in text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int token) || token < 0)
            {
                throw new PrefixLabException($"option {name}: '{part}' in \"{text}\" is not a token id (a whole number, 0 or more)");
            }
            tokens.Add(token);
        }
        PrefixLabException.Check(tokens.Count > 0, $"option {name} holds no token ids");
        return [.. tokens];
    }

    private sealed record Box<T>(T Value);

    private static T? Catch<T>(ArgumentResult r, Func<T> parse)
        where T : class
    {
        try
        {
            return parse();
        }
        catch (PrefixLabException e)
        {
            r.AddError(e.Message);
            return null;
        }
    }

    /// <summary>The value or null when the option did not get one (the parser reports a missing value itself).</summary>
    internal static string? Single(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[0].Value : null;

    private static long? ParseLong(ArgumentResult r, string text, long min, long max)
    {
        string name = OptionName(r);
        if (!long.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
        {
            r.AddError($"option {name} needs a whole number (got '{text}')");
            return null;
        }
        if (value < min || value > max)
        {
            r.AddError($"option {name} must be between {min} and {max} (got {value})");
            return null;
        }
        return value;
    }

    private static double? ParseDouble(ArgumentResult r, string text, double min, double max, bool aboveMin)
    {
        string name = OptionName(r);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value))
        {
            r.AddError($"option {name} needs a number (got '{text}')");
            return null;
        }
        bool low = aboveMin ? value <= min : value < min;
        if (low || value > max)
        {
            r.AddError($"option {name} must be {DoubleRange(min, max, aboveMin)} (got {Show(value)})");
            return null;
        }
        return value;
    }

    private static string OptionName(ArgumentResult r) => (r.Parent as OptionResult)?.Option.Name ?? r.Argument.Name;

    private static string Range(long min, long max) =>
        max == long.MaxValue || max == int.MaxValue ? $"{min} or more" : $"{min}-{max}";

    private static string DoubleRange(double min, double max, bool aboveMin)
    {
        string lower = aboveMin ? $"more than {Show(min)}" : $"at least {Show(min)}";
        return max == double.MaxValue ? lower : $"{lower} and at most {Show(max)}";
    }

    private static string Show(double value) => value.ToString("G", CultureInfo.InvariantCulture);

    private static string WithDefault(string description, string? defaultText) =>
        defaultText is null ? description : $"{description} [default: {defaultText}]";
}
