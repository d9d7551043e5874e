using System.CommandLine;
using PrefixLab.Interop;

namespace PrefixLab.Cli;

/// <summary>
/// <c>--allow-nonfinite</c>, shared by the commands that load a model or an adapter: weights holding
/// NaN or ±∞ are refused (exit 2) unless it is given; with it they load and one warning goes to stderr.
/// </summary>
internal sealed class LoadFlags : IOptionGroup
{
    private readonly Option<bool> allowNonFinite = Opt.Flag("--allow-nonfinite", "load weights holding NaN or ±∞ (one warning) instead of refusing the file");

    public IEnumerable<Option> Options => [allowNonFinite];

    /// <summary>The load options the command line asks for.</summary>
    public LoadOptions Read(ParseResult parse) => new()
    {
        AllowNonFinite = parse.GetValue(allowNonFinite),
        Warn = message => Console.Error.WriteLine($"prefixlab: warning: {message}"),
    };
}
