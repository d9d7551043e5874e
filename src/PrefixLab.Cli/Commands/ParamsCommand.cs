using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class ParamsCommand : ICommand
{
    public string Name => "params";

    public string Summary => "count a method's trainable parameters, or match another method's count";

    public string Usage => """
        prefixlab params --model FILE --method M [--prefix-size P] [--rank r] [--targets a,b] [--match METHOD[:rank=r|:prefix-size=P]]
          --match lora:rank=1   find the size of M (prefix size, or LoRA rank) whose count equals that configuration's
        """ + "\n" + LoadFlags.Usage;

    public int Run(Arguments args)
    {
        var (model, info) = ModelFile.Load(args.Required("model"), LoadFlags.Read(args));
        using var _ = model;
        string method = args.Required("method");
        var settings = MethodSettings.Read(args, info.PrefixSize);
        string? match = args.Optional("match");
        args.EnsureAllUsed();

        if (match is null)
        {
            Console.WriteLine($"{method}: {ParameterBudget.Count(model, method, settings):N0} trainable parameters");
            return 0;
        }
        var (otherMethod, otherSettings) = ParseMatch(match, settings);
        long target = ParameterBudget.Count(model, otherMethod, otherSettings);
        var best = ParameterBudget.Match(model, method, settings, target);
        string size = method == "lora" ? $"rank {best.Settings.Rank}" : $"prefix size {best.Settings.PrefixSize}";
        Console.WriteLine(best.Count == target
            ? $"{method} with {size} has {best.Count:N0} trainable parameters, exactly as {match} ({target:N0})"
            : $"no exact match: {match} has {target:N0}; nearest is {method} with {size}: {best.Count:N0}");
        return 0;
    }

    private static (string Method, TuningSettings Settings) ParseMatch(string text, TuningSettings settings)
    {
        var parts = text.Split(':', 2);
        var other = settings;
        if (parts.Length == 2)
        {
            foreach (var pair in parts[1].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var kv = pair.Split('=', 2);
                PrefixLabException.Check(kv.Length == 2 && int.TryParse(kv[1], out int value) && value >= 1, $"--match setting '{pair}' must be name=positive whole number");
                int parsed = int.Parse(kv[1], System.Globalization.CultureInfo.InvariantCulture);
                other = kv[0] switch
                {
                    "rank" => other with { Rank = parsed },
                    "prefix-size" => other with { PrefixSize = parsed },
                    _ => throw new PrefixLabException($"--match knows rank and prefix-size, not '{kv[0]}'"),
                };
            }
        }
        return (parts[0], other);
    }
}
