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
        Legacy(new PretrainCommand()), Legacy(new TuneCommand()), Legacy(new EvalCommand()), new GenerateCommand(), Legacy(new ParamsCommand()),
        new VerifyCommand(), new BiasCommand(), new AttentionCommand(), new CompletionsCommand(), Legacy(new ConstructCommand()),
        new ReproduceCommand(), new BenchCommand(), new CurvesCommand(), new TokenizeCommand(),
    ];

    /// <summary>The root command: every command, <c>help</c>, <c>--help</c> and <c>--version</c>.</summary>
    public static Command Build()
    {
        var root = new Command("prefixlab", Description);
        var help = new HelpOption();
        // Piped help (a file, a test, a pager) is wrapped at a fixed width rather than not at all.
        var parserHelp = (HelpAction)help.Action!;
        parserHelp.MaxWidth = Console.IsOutputRedirected ? 110 : Math.Max(Console.WindowWidth, 60);
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
        if (root.Subcommands.OfType<LegacyCommand>().FirstOrDefault(c => c.Name == args[0]) is { } legacy)
        {
            return Guarded(legacy.Name, () => legacy.Run(args[1..]));
        }
        var parse = root.Parse(args, Parsing);
        string name = parse.CommandResult.Command == root ? "prefixlab" : $"prefixlab {parse.CommandResult.Command.Name}";
        if (parse.Action is not { ClearsParseErrors: true } && ParseErrors.Describe(parse, args) is { } error)
        {
            Console.Error.WriteLine($"{name}: error: {error}");
            return 2;
        }
        return Guarded(name, () => parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));
    }

    /// <summary>Runs <paramref name="body"/>, turning what it throws into one line and an exit code.</summary>
    private static int Guarded(string name, Func<int> body)
    {
        if (!name.StartsWith("prefixlab", StringComparison.Ordinal))
        {
            name = $"prefixlab {name}";
        }
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

    /// <summary><c>prefixlab help CMD</c>: exactly what <c>prefixlab CMD --help</c> prints.</summary>
    private static Command HelpCommand(Command root)
    {
        var target = new Argument<string?>("COMMAND") { Arity = ArgumentArity.ZeroOrOne, Description = "the command to show (default: all commands)" };
        var command = new Command("help", "show the options of a command (prefixlab help CMD is prefixlab CMD --help)") { target };
        command.SetAction(parse =>
        {
            string? name = parse.GetValue(target);
            if (name is not null && root.Subcommands.All(c => c.Name != name))
            {
                throw new PrefixLabException(ParseErrors.UnknownCommand(root, name));
            }
            string[] asked = name is null ? ["--help"] : [name, "--help"];
            if (name is not null && root.Subcommands.OfType<LegacyCommand>().FirstOrDefault(c => c.Name == name) is { } legacy)
            {
                return legacy.Run(["--help"]);
            }
            return root.Parse(asked, Parsing).Invoke();
        });
        return command;
    }

    private static LegacyCommand Legacy(ICommand command) => new(command);
}
