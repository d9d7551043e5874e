using System.CommandLine;

namespace PrefixLab.Cli;

/// <summary>
/// A command still parsed by <see cref="Arguments"/>: listed by the general help, and given its own
/// usage text for <c>--help</c>, until it declares its options on the parser.
/// </summary>
internal sealed class LegacyCommand(ICommand command) : Command(command.Name, command.Summary)
{
    public int Run(string[] args)
    {
        if (args.Any(a => a is "--help" or "-h"))
        {
            Console.WriteLine(command.Usage);
            return 0;
        }
        return command.Run(Cli.Arguments.Parse(args));
    }
}
