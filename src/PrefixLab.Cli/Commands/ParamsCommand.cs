using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class ParamsCommand : ICommand
{
    public string Name => "params";

    public string Summary => "count a method's trainable parameters, or match another method's count";

    public string Usage => """
        prefixlab params --model FILE --method M [--prefix-size P] [--rank r] [--targets a,b] [--match METHOD[:rank=r|:prefix-size=P]]
          --match lora:rank=1   find the size of M (prefix size, or LoRA rank) whose count equals that configuration's;
                                its rank and prefix size have the ranges of --rank and --prefix-size
        """ + "\n" + MethodSettings.Usage + "\n" + LoadFlags.Usage;

    public int Run(Arguments args)
    {
        var (model, info) = ModelFile.Load(args.Required("model"), LoadFlags.Read(args));
        using var _ = model;
        string method = args.Required("method");
        var settings = MethodSettings.Read(args, model, info.PrefixSize);
        string? match = args.Optional("match");
        args.EnsureAllUsed();

        if (match is null)
        {
            Console.WriteLine($"{method}: {ParameterBudget.Count(model, method, settings):N0} trainable parameters");
            return 0;
        }
        var (otherMethod, otherSettings) = ParseMatch(match, settings);
        MethodSettings.CheckRank(model, otherSettings, "--match rank");
        MethodSettings.CheckPrefixSize(model, otherSettings.PrefixSize, "--match prefix-size");
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
                int parsed = 0;
                PrefixLabException.Check(kv.Length == 2 && int.TryParse(kv[1], System.Globalization.CultureInfo.InvariantCulture, out parsed) && parsed is >= 1 and <= 100_000,
                    $"option --match: setting '{pair}' must be name=whole number from 1 to 100000");
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
