using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Globalization;
using PrefixLab.Cli.Commands;

namespace PrefixLab.Cli;

/// <summary>
/// The command line of <c>prefixlab</c> on System.CommandLine: the commands, <c>help [COMMAND]</c>,
/// <c>--version</c>, and the error contract: bad input is one line on stderr,
/// <c>prefixlab CMD: error: ...</c>, and exit code 2; a bug is one line and exit code 1; never a stack trace.
/// </summary>
internal static class CliApp
{
    private const string Description = "prefixlab: prompting, prefix-tuning and LoRA on TorchSharp transformers (Petrov, Torr, Bibi, ICLR 2024)";

    private static readonly ParserConfiguration Parsing = new()
    {
        // A value such as "@user" is a prompt, not a file of arguments.
        ResponseFileTokenReplacer = null,
        EnablePosixBundling = false,
    };

    /// <summary>The commands, in the order the general help lists them.</summary>
    public static Command[] Commands() =>
    [
        new PretrainCommand(), new TuneCommand(), new EvalCommand(), new GenerateCommand(), new ParamsCommand(),
        new VerifyCommand(), new BiasCommand(), new AttentionCommand(), new CompletionsCommand(), new ConstructCommand(),
        new ReproduceCommand(), new BenchCommand(), new CurvesCommand(), new TokenizeCommand(),
    ];

    /// <summary>The root command: every command, <c>help</c>, <c>--help</c> and <c>--version</c>.</summary>
    public static Command Build()
    {
        var root = new Command("prefixlab", Description);
        var help = new HelpOption();
        // Piped help (a file, a test, a pager) is wrapped at a fixed width rather than not at all.
        var parserHelp = (HelpAction)help.Action!;
        parserHelp.MaxWidth = Console.IsOutputRedirected ? 110 : Math.Max(TerminalWidth(), 60);
        help.Action = new HelpWithDetails(parserHelp);
        root.Add(help);
        root.Add(new VersionOption());
        foreach (var command in Commands())
        {
            root.Add(command);
        }
        root.Add(HelpCommand(root));
        return root;
    }

    /// <summary>Runs <c>prefixlab</c> with <paramref name="args"/>; returns the exit code.</summary>
    public static int Run(string[] args)
    {
        // The parser's headings ("Usage:", "Options:") in English, as every other word prefixlab prints.
        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
        var root = Build();
        if (args.Length == 0)
        {
            root.Parse(["--help"], Parsing).Invoke();
            return 2;
        }
        var parse = root.Parse(args, Parsing);
        // "prefixlab", "prefixlab tune", "prefixlab construct map": the command the error belongs to.
        var path = new List<string>();
        for (SymbolResult? at = parse.CommandResult; at is CommandResult command; at = at.Parent)
        {
            path.Insert(0, command.Command.Name);
        }
        string name = string.Join(' ', path);
        // Help is shown whatever else the line holds; --version only alone.
        if (parse.Action is not HelpWithDetails && ParseErrors.Describe(parse, args) is { } error)
        {
            Console.Error.WriteLine($"{name}: error: {error}");
            return 2;
        }
        return Guarded(name, () => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
    }

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth;
        }
        catch (IOException)
        {
            return 110; // a terminal that does not say its width
        }
    }

    /// <summary>Runs <paramref name="body"/>, turning what it throws into one line and an exit code.</summary>
    private static int Guarded(string name, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (PrefixLabException e)
        {
            Console.Error.WriteLine($"{name}: error: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"{name}: error: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            // A bug, not bad input: still one line, but say so.
            Console.Error.WriteLine($"{name}: internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
            return 1;
        }
    }

    /// <summary><c>prefixlab help CMD</c>: exactly what <c>prefixlab CMD --help</c> prints (also <c>help construct map</c>).</summary>
    private static Command HelpCommand(Command root)
    {
        var target = new Argument<string[]>("COMMAND") { Arity = ArgumentArity.ZeroOrMore, Description = "the command to show (default: all commands)" };
        var command = new Command("help", "show the options of a command (prefixlab help CMD is prefixlab CMD --help)") { target };
        command.SetAction(parse =>
        {
            string[] path = parse.GetValue(target) ?? [];
            var at = root;
            foreach (string name in path)
            {
                at = at.Subcommands.FirstOrDefault(c => c.Name == name) ?? throw new PrefixLabException(ParseErrors.UnknownCommand(at, name));
            }
            return root.Parse([.. path, "--help"], Parsing).Invoke();
        });
        return command;
    }
}
