using System.CommandLine;
using PrefixLab.Model;
using PrefixLab.Tuning;

namespace PrefixLab.Cli;

/// <summary>
/// The options of <c>tune</c> and <c>params</c> that set a method's knobs: one option per knob of the
/// registered methods (<see cref="TuningMethods.Knobs"/>), made from the knob's neutral description
/// (name, type, range, default, help), so a method added to the registry brings its options along.
/// </summary>
internal sealed class MethodOptions : IOptionGroup
{
    private readonly (Knob Knob, Option Option, Func<ParseResult, object?> Value)[] knobs = [.. TuningMethods.Knobs.Select(Declare)];

    public IEnumerable<Option> Options => knobs.Select(k => k.Option);

    /// <summary>The methods' names, for the help of <c>--method</c>.</summary>
    public static string MethodNames => string.Join(", ", TuningMethods.Names);

    /// <summary>
    /// The settings of method <paramref name="kind"/>: every knob's option is read and checked for its
    /// type and range while parsing, and the method takes the values of its own knobs, checked against
    /// <paramref name="model"/>; a knob left out takes the default for the model's family.
    /// </summary>
    public TuningSettings Read(ParseResult parse, ILanguageModel model, int defaultPrefixSize, MethodKind kind)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (knob, _, value) in knobs)
        {
            if (value(parse) is { } v)
            {
                values[knob.Name] = v;
            }
        }
        var settings = kind.Settings(values, defaultPrefixSize, model.Family);
        foreach (var knob in kind.Knobs)
        {
            knob.Check(model, settings, $"--{knob.Name}", values.ContainsKey(knob.Name));
        }
        return settings;
    }

    /// <summary>
    /// Checks a size knob of <paramref name="settings"/> (named <paramref name="name"/>) set by
    /// <c>params --match</c>, as the command line checks the option.
    /// </summary>
    public static void CheckMatched(ILanguageModel model, MethodKind kind, TuningSettings settings, string name) =>
        kind.Knobs.First(k => k.Name == name).Check(model, settings, $"--match {name}", true);

    /// <summary>The option of <paramref name="knob"/> and how to read its value (null when it is absent).</summary>
    private static (Knob, Option, Func<ParseResult, object?>) Declare(Knob knob)
    {
        string name = $"--{knob.Name}";
        string help = knob.Help.ReplaceLineEndings(" ");
        return knob.Type switch
        {
            KnobType.Int => With(knob, Opt.IntOrNull(name, help, (int)knob.Min, (int)knob.Max, knob.DefaultText, knob.Placeholder), v => v),
            KnobType.Number => With(knob, Opt.DoubleOrNull(name, help, knob.Min, knob.Max, aboveMin: true, knob.DefaultText, knob.Placeholder), v => v),
            KnobType.Tokens => With(knob, Opt.TokenIds(name, help, knob.DefaultText), v => v is { Length: > 0 } ? v : null),
            KnobType.Names => With(knob, Opt.List(name, knob.Placeholder, help, "layer", knob.DefaultText), v => v is { Length: > 0 } ? v : null),
            _ => throw new InvalidOperationException($"knob type {knob.Type}"),
        };
    }

    private static (Knob, Option, Func<ParseResult, object?>) With<T>(Knob knob, Option<T> option, Func<T?, object?> value) =>
        (knob, option, parse => value(parse.GetValue(option)));
}
