using System.CommandLine;

namespace PrefixLab.Cli;

/// <summary>
/// One subcommand of <c>prefixlab</c>: its options are declared once, as fields added to the command
/// (the parser checks them and writes the help from them), and its body reads them typed, calls the
/// library and prints.
/// </summary>
internal abstract class CliCommand : Command
{
    protected CliCommand(string name, string summary, string? details = null)
        : base(name, summary)
    {
        Details = details;
        SetAction(Run);
    }

    /// <summary>What the command's help says after its options: what it measures, how its options combine.</summary>
    public string? Details { get; }

    /// <summary>Runs the command on a command line the parser accepted; returns the exit code.</summary>
    protected abstract int Run(ParseResult parse);

    /// <summary>Adds the command's options and arguments, in the order the help lists them (a group spread in with <c>..</c>).</summary>
    protected void Declare(IEnumerable<Symbol> symbols)
    {
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Option option:
                    Add(option);
                    break;
                case Argument argument:
                    Add(argument);
                    break;
                default:
                    throw new ArgumentException($"a command declares options and arguments, not {symbol.GetType().Name}", nameof(symbols));
            }
        }
    }
}

/// <summary>Options that go together on several commands (the inputs of an analysis, the load flags).</summary>
internal interface IOptionGroup
{
    IEnumerable<Option> Options { get; }
}
