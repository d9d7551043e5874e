using System.Globalization;
using System.Text;
using PrefixLab.Model;
using PrefixLab.Tuning;

namespace PrefixLab.Cli;

/// <summary>
/// Reads a method's settings from the options shared by <c>tune</c> and <c>params</c>: one option per
/// knob of the registered methods (<see cref="TuningMethods.Knobs"/>), checked against the model.
/// </summary>
internal static class MethodSettings
{
    /// <summary>The options' text in the usage of <c>tune</c> and <c>params</c>.</summary>
    public static string Usage { get; } = BuildUsage();

    /// <summary>The methods' names as the usage lists them.</summary>
    public static string MethodNames => string.Join(", ", TuningMethods.Names);

    public static TuningSettings Read(Arguments args, Gpt model, int defaultPrefixSize)
    {
        var settings = new TuningSettings();
        var given = new HashSet<string>(StringComparer.Ordinal);
        foreach (var knob in TuningMethods.Knobs)
        {
            if (args.Has(knob.Name))
            {
                settings = knob.Apply(settings, Value(args, knob));
                given.Add(knob.Name);
            }
        }
        // Defaults that depend on the model or on other knobs, once every given value is in.
        foreach (var knob in TuningMethods.Knobs.Where(k => !given.Contains(k.Name)))
        {
            if (knob.DefaultFor?.Invoke(defaultPrefixSize, settings) is { } value)
            {
                settings = knob.Apply(settings, value);
            }
        }
        foreach (var knob in TuningMethods.Knobs)
        {
            knob.Check?.Invoke(model, settings, $"--{knob.Name}", given.Contains(knob.Name));
        }
        return settings;
    }

    /// <summary>
    /// Checks a size knob of <paramref name="settings"/> (named <paramref name="name"/>) set by
    /// <c>params --match</c>, as the command line checks the option.
    /// </summary>
    public static void CheckMatched(Gpt model, TuningSettings settings, string name) =>
        TuningMethods.Knobs.First(k => k.Name == name).Check?.Invoke(model, settings, $"--match {name}", true);

    /// <summary>The option's value, of the knob's type and within its range.</summary>
    private static object Value(Arguments args, Knob knob) => knob.Type switch
    {
        KnobType.Int => args.Int(knob.Name, 0, (int)knob.Min, (int)knob.Max),
        KnobType.Number => args.Double(knob.Name, 0, knob.Min, knob.Max, aboveMin: true),
        KnobType.Tokens => ParseTokens(args.Optional(knob.Name)!, $"--{knob.Name}").ToArray(),
        KnobType.Names => Names(args.Optional(knob.Name)!, knob.Name),
        _ => throw new InvalidOperationException($"knob type {knob.Type}"),
    };

    private static string[] Names(string text, string name)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        PrefixLabException.Check(names.Length > 0, $"option --{name} names no layer (give names such as c_fc,c_proj)");
        return names;
    }

    private static string BuildUsage()
    {
        var text = new StringBuilder();
        foreach (var knob in TuningMethods.Knobs)
        {
            string option = $"  --{knob.Name} {knob.Placeholder}";
            var lines = knob.Help.Split('\n');
            text.Append(option.Length < 22 ? option.PadRight(22) : option + "\n" + new string(' ', 22)).Append(lines[0]).Append('\n');
            foreach (var line in lines.Skip(1))
            {
                text.Append(new string(' ', 22)).Append(line).Append('\n');
            }
        }
        return text.ToString().TrimEnd('\n');
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
