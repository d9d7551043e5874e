using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace PrefixLab.Cli;

/// <summary>
/// The parser's help, then a command's <see cref="CliCommand.Details"/> (what it measures, how its
/// options combine), which do not fit the one-line summary the general help lists.
/// </summary>
internal sealed class HelpWithDetails(HelpAction help) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true;

    public override int Invoke(ParseResult parseResult)
    {
        int code = help.Invoke(parseResult);
        if (parseResult.CommandResult.Command is CliCommand { Details: { } details })
        {
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine("Details:");
            foreach (string line in details.Split('\n'))
            {
                output.WriteLine(line.Length == 0 ? "" : $"  {line.TrimEnd('\r')}");
            }
            output.WriteLine();
        }
        return code;
    }
}
