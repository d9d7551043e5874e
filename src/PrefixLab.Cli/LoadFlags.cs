using System.CommandLine;
using PrefixLab.Interop;

namespace PrefixLab.Cli;

/// <summary>
/// <c>--allow-nonfinite</c>, shared by the commands that load a model or an adapter: weights holding
/// NaN or ±∞ are refused (exit 2) unless it is given; with it they load and one warning goes to stderr.
/// </summary>
internal sealed class LoadFlags : IOptionGroup
{
    /// <summary>The option's line for a command's usage text.</summary>
    public const string Usage = "  --allow-nonfinite  load weights holding NaN or ±∞ (one warning) instead of refusing the file";

    private readonly Option<bool> allowNonFinite = Opt.Flag("--allow-nonfinite", "load weights holding NaN or ±∞ (one warning) instead of refusing the file");

    public IEnumerable<Option> Options => [allowNonFinite];

    /// <summary>The load options the command line asks for.</summary>
    public LoadOptions Read(ParseResult parse) => For(parse.GetValue(allowNonFinite));

    /// <summary>The load options the command line asks for.</summary>
    public static LoadOptions Read(Arguments args) => For(args.Flag("allow-nonfinite"));

    private static LoadOptions For(bool allowNonFinite) => new()
    {
        AllowNonFinite = allowNonFinite,
        Warn = message => Console.Error.WriteLine($"prefixlab: warning: {message}"),
    };
}
