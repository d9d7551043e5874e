using System.Reflection;
using PrefixLab;
using PrefixLab.Cli;
using PrefixLab.Cli.Commands;

ICommand[] commands =
[
    new PretrainCommand(), new TuneCommand(), new EvalCommand(), new GenerateCommand(), new ParamsCommand(),
    new VerifyCommand(), new BiasCommand(), new AttentionCommand(), new CompletionsCommand(), new ConstructCommand(),
    new ReproduceCommand(), new BenchCommand(), new CurvesCommand(), new TokenizeCommand(),
];

if (args is ["--version"])
{
    // The version set once in Directory.Build.props, as the package and the assemblies carry it.
    Console.WriteLine(typeof(ICommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion);
    return 0;
}

if (args.Length == 0 || args[0] is "help" or "--help" or "-h")
{
    Console.WriteLine("prefixlab: prompting, prefix-tuning and LoRA on TorchSharp transformers (Petrov, Torr, Bibi, ICLR 2024)");
    Console.WriteLine();
    foreach (var c in commands)
    {
        Console.WriteLine($"  {c.Name,-12} {c.Summary}");
    }
    Console.WriteLine();
    Console.WriteLine("prefixlab COMMAND --help shows a command's options.");
    return args.Length == 0 ? 2 : 0;
}

var command = commands.FirstOrDefault(c => c.Name == args[0]);
if (command is null)
{
    Console.Error.WriteLine($"prefixlab: error: unknown command '{args[0]}' (known: {string.Join(", ", commands.Select(c => c.Name))})");
    return 2;
}
if (args.Skip(1).Any(a => a is "--help" or "-h"))
{
    Console.WriteLine(command.Usage);
    return 0;
}
try
{
    var arguments = Arguments.Parse(args[1..]);
    return command.Run(arguments);
}
catch (PrefixLabException e)
{
    Console.Error.WriteLine($"prefixlab {command.Name}: error: {e.Message}");
    return 2;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"prefixlab {command.Name}: error: {e.Message}");
    return 2;
}
catch (Exception e)
{
    // A bug, not bad input: still one line, but say so.
    Console.Error.WriteLine($"prefixlab {command.Name}: internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]}");
    return 1;
}
