using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class ParamsCommand : ICommand
{
    public string Name => "params";

    public string Summary => "count a method's trainable parameters, or match another method's count";

    public string Usage => $"""
        prefixlab params --model FILE --method M [method options] [--match METHOD[:SIZE=N]]
          --method M            {MethodSettings.MethodNames}
          --match lora:rank=1   find the size of M ({Sizes}) whose count equals that configuration's;
                                a size set there has the range of its option below
        """ + "\n" + MethodSettings.Usage + "\n" + LoadFlags.Usage;

    /// <summary>The methods' sizes, e.g. <c>prefix-size (prefix, …), rank (lora)</c>.</summary>
    private static string Sizes => string.Join(", ", TuningMethods.All.Where(k => k.Size is not null).GroupBy(k => k.Size!.Knob)
        .Select(g => $"{g.Key} for {string.Join(", ", g.Select(k => k.Name))}"));

    public int Run(Arguments args)
    {
        var (model, info) = ModelFile.Load(args.Required("model"), LoadFlags.Read(args));
        using var _ = model;
        string method = args.Required("method");
        var kind = TuningMethods.Get(method);
        var settings = MethodSettings.Read(args, model, info.PrefixSize);
        string? match = args.Optional("match");
        args.EnsureAllUsed();

        if (match is null)
        {
            Console.WriteLine($"{method}: {ParameterBudget.Count(model, method, settings):N0} trainable parameters");
            return 0;
        }
        var (otherMethod, otherSettings, sizes) = ParseMatch(match, settings);
        foreach (var size in sizes)
        {
            MethodSettings.CheckMatched(model, otherSettings, size);
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
    /// The method and settings <c>--match</c> names (it sets any method's size knob, by name), and the
    /// size knobs to check: all of them, as <c>--match</c> sets them or leaves them.
    /// </summary>
    private static (string Method, TuningSettings Settings, List<string> Sizes) ParseMatch(string text, TuningSettings settings)
    {
        var parts = text.Split(':', 2);
        var other = settings;
        var sizes = TuningMethods.All.Select(k => k.Size).OfType<SizeKnob>().DistinctBy(s => s.Knob).ToList();
        if (parts.Length == 2)
        {
            foreach (var pair in parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=', 2);
                int parsed = 0;
                PrefixLabException.Check(kv.Length == 2 && int.TryParse(kv[1], System.Globalization.CultureInfo.InvariantCulture, out parsed) && parsed is >= 1 and <= 100_000,
                    $"option --match: setting '{pair}' must be name=whole number from 1 to 100000");
                var size = sizes.FirstOrDefault(s => s.Knob == kv[0])
                    ?? throw new PrefixLabException($"--match knows {string.Join(" and ", sizes.Select(s => s.Knob))}, not '{kv[0]}'");
                other = size.With(other, parsed);
            }
        }
        return (parts[0], other, [.. sizes.Select(s => s.Knob)]);
    }
}
