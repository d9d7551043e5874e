using System.CommandLine;
using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class ParamsCommand : CliCommand
{
    private readonly Option<string> modelOption = Opt.Required("--model", "FILE", "a PrefixLab model file");
    private readonly Option<MethodKind?> methodOption = Opt.Parsed("--method", "M", $"the tuning method: {MethodOptions.MethodNames}", TuningMethods.Get, required: true);
    private readonly MethodOptions method = new();
    private readonly Option<string?> matchOption = Opt.Text("--match", "METHOD[:SIZE=N]",
        $"find the size of --method ({Sizes}) whose count equals that configuration's, e.g. lora:rank=1; a size set there has the range of its option");
    private readonly LoadFlags load = new();

    public ParamsCommand()
        : base("params", "count a method's trainable parameters, or match another method's count")
    {
        Declare([modelOption, methodOption, .. method.Options, matchOption, .. load.Options]);
    }

    /// <summary>The methods' sizes, e.g. <c>prefix-size (prefix, …), rank (lora)</c>.</summary>
    private static string Sizes => string.Join("; ", TuningMethods.All.Where(k => k.Size is not null).GroupBy(k => k.Size!.Knob)
        .Select(g => $"{g.Key} for {string.Join(", ", g.Select(k => k.Name))}"));

    protected override int Run(ParseResult parse)
    {
        var (model, info) = ModelLoader.Load(parse.GetRequiredValue(modelOption), load.Read(parse));
        using var _ = model;
        var kind = parse.GetRequiredValue(methodOption)!;
        string method = kind.Name;
        var settings = this.method.Read(parse, model, info.PrefixSize, kind);
        string? match = parse.GetValue(matchOption);

        if (match is null)
        {
            Console.WriteLine($"{method}: {ParameterBudget.Count(model, method, settings):N0} trainable parameters");
            return 0;
        }
        var (otherMethod, otherSettings, sizes) = ParseMatch(match, this.method.Read(parse, model, info.PrefixSize, TuningMethods.Get(match.Split(':', 2)[0])));
        foreach (var size in sizes)
        {
            MethodOptions.CheckMatched(model, TuningMethods.Get(otherMethod), otherSettings, size);
        }
        long target = ParameterBudget.Count(model, otherMethod, otherSettings);
        var best = ParameterBudget.Match(model, method, settings, target);
        string label = $"{kind.Size!.Label} {kind.Size.Of(best.Settings)}";
        Console.WriteLine(best.Count == target
            ? $"{method} with {label} has {best.Count:N0} trainable parameters, exactly as {match} ({target:N0})"
            : $"no exact match: {match} has {target:N0}; nearest is {method} with {label}: {best.Count:N0}");
        return 0;
    }

    /// <summary>
    /// The method and settings <c>--match</c> names (it sets the method's size knob, by name, in
    /// <paramref name="settings"/>, the method's settings from the options), and the size knob to check.
    /// </summary>
    private static (string Method, TuningSettings Settings, List<string> Sizes) ParseMatch(string text, TuningSettings settings)
    {
        var parts = text.Split(':', 2);
        var other = settings;
        List<SizeKnob> sizes = TuningMethods.Get(parts[0]).Size is { } own ? [own] : [];
        if (parts.Length == 2)
        {
            foreach (var pair in parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=', 2);
                int parsed = 0;
                PrefixLabException.Check(kv.Length == 2 && int.TryParse(kv[1], System.Globalization.CultureInfo.InvariantCulture, out parsed) && parsed is >= 1 and <= 100_000,
                    $"option --match: setting '{pair}' must be name=whole number from 1 to 100000");
                var size = sizes.FirstOrDefault(s => s.Knob == kv[0])
                    ?? throw new PrefixLabException(sizes.Count == 0 ? $"--match: {parts[0]} has no size to set, not '{kv[0]}'" : $"--match knows {string.Join(" and ", sizes.Select(s => s.Knob))} for {parts[0]}, not '{kv[0]}'");
                other = size.With(other, parsed);
            }
        }
        return (parts[0], other, [.. sizes.Select(s => s.Knob)]);
    }
}
