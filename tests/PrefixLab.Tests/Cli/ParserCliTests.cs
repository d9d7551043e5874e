using System.CommandLine;
using System.Reflection;
using PrefixLab.Cli;

namespace PrefixLab.Tests.Cli;

/// <summary>
/// The command line as the parser defines it: each command's help lists every option the command
/// accepts and nothing it refuses, <c>help CMD</c> is <c>CMD --help</c>, <c>--version</c> is the
/// assembly's, a typo gets a suggestion, and every slip on any command is one line and exit code 2.
/// </summary>
public class ParserCliTests
{
    /// <summary>The commands declared on the parser, by name.</summary>
    public static TheoryData<string> Commands() => [.. CliApp.Commands().OfType<CliCommand>().Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Help_lists_every_option_the_command_accepts_with_its_description_and_names_no_other(string name)
    {
        var command = Command(name);
        var (code, help, stderr) = CliTests.Run(name, "--help");
        Assert.True(code == 0, stderr);
        var listed = Listed(help);
        foreach (var option in command.Options)
        {
            Assert.True(option.Aliases.Prepend(option.Name).All(listed.Contains), $"{name} --help does not list {option.Name}:\n{help}");
            Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{name} {option.Name} has no description");
            Assert.Contains(Words(option.Description!), Words(Line(help, option.Name)));
        }
        // Whatever the help names, the parser accepts on this command.
        var known = ParseErrors.KnownOptions(command).Append("-?").ToHashSet();
        Assert.All(listed, word => Assert.Contains(word, known));
        Assert.Contains("--help", listed);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Help_shows_each_range_and_default_from_the_definition(string name)
    {
        var (_, help, _) = CliTests.Run(name, "--help");
        foreach (var option in Command(name).Options.Where(o => o.HasDefaultValue && o.ValueType != typeof(bool)))
        {
            string shown = Line(help, option.Name);
            Assert.Contains($"[default: {option.GetDefaultValue()}]", shown);
        }
        foreach (var option in Command(name).Options.Where(o => o.ValueType == typeof(int) || o.ValueType == typeof(int?)))
        {
            Assert.Matches(@"\(\d+(-\d+| or more)\)", Line(help, option.Name));
        }
    }

    [Theory]
    [MemberData(nameof(AllCommands))]
    public void Help_cmd_prints_exactly_what_cmd_help_prints(string name)
    {
        var (code, viaHelp, stderr) = CliTests.Run("help", name);
        Assert.True(code == 0, stderr);
        var (_, viaOption, _) = CliTests.Run(name, "--help");
        Assert.Equal(viaOption, viaHelp);
        Assert.NotEqual(CliTests.Run("--help").Stdout, viaHelp);
    }

    public static TheoryData<string> AllCommands() => [.. CliApp.Commands().Select(c => c.Name)];

    [Fact]
    public void Version_prints_the_assemblys_informational_version()
    {
        var (code, stdout, stderr) = CliTests.Run("--version");
        Assert.True(code == 0, stderr);
        string expected = typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(expected, stdout.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", expected);
    }

    [Theory]
    [InlineData("bench --stesp 3", "unknown option --stesp (did you mean --steps?)")]
    [InlineData("tokenize --tokenizer x --txet hi", "unknown option --txet (did you mean --text?)")]
    [InlineData("verify --model m --adapter a --sample 3", "unknown option --sample (did you mean --samples?)")]
    [InlineData("benhc", "unknown command 'benhc' (did you mean 'bench'?)")]
    [InlineData("help atention", "unknown command 'atention' (did you mean 'attention'?)")]
    [InlineData("frobnicate", "unknown command 'frobnicate' (known: pretrain, tune")]
    public void A_typo_gets_a_suggestion_on_one_line_and_exit_code_2(string args, string expected)
    {
        var (code, stdout, stderr) = CliTests.Run(args.Split(' '));
        OutputSafetyCliTests.AssertRefusedBeforeTraining(code, stdout, stderr, expected);
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_slip_on_every_command_is_one_line_and_exit_code_2(string name)
    {
        var command = Command(name);
        var valued = command.Options.First(o => o.Arity.MinimumNumberOfValues > 0);
        var flag = command.Options.FirstOrDefault(o => o.ValueType == typeof(bool));
        var slips = new List<(string[] Args, string Expected)>
        {
            ([name, "--no-such-option"], "unknown option --no-such-option"),
            ([name, valued.Name], $"option {valued.Name} needs a value"),
            ([name, valued.Name, "1", valued.Name, "1"], $"option {valued.Name} given twice"),
            ([name, valued.Name, "--help-me"], $"option {valued.Name} needs a value"),
        };
        if (flag is not null)
        {
            slips.Add(([name, flag.Name, flag.Name], $"option {flag.Name} given twice"));
        }
        if (command.Arguments.Count == 0)
        {
            slips.Add(([name, "stray"], "unexpected argument 'stray'"));
        }
        foreach (var (args, expected) in slips)
        {
            var (code, stdout, stderr) = CliTests.Run(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit code {code}: {stderr}");
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"prefixlab {name}: error: ", line);
            Assert.Contains(expected, line);
            Assert.Equal("", stdout);
        }
    }

    /// <summary>The command as the app builds it, under the root that gives it <c>--help</c>.</summary>
    private static Command Command(string name) => CliApp.Build().Subcommands.Single(c => c.Name == name);

    /// <summary>The lines under <paramref name="heading"/> up to the next blank line.</summary>
    private static string Section(string help, string heading) =>
        string.Join('\n', help.Split('\n').SkipWhile(l => l.Trim() != heading).Skip(1).TakeWhile(l => l.Trim().Length > 0));

    /// <summary>The help line of <paramref name="option"/> and its wrapped continuation.</summary>
    private static string Line(string help, string option)
    {
        var lines = Section(help, "Options:").Split('\n');
        int at = Array.FindIndex(lines, l => Names(l).Contains(option));
        Assert.True(at >= 0, $"no help line for {option}");
        return string.Join(' ', lines.Skip(at + 1).TakeWhile(l => !Names(l).Any()).Prepend(lines[at]));
    }

    /// <summary>Every option spelling the help's Options section lists.</summary>
    private static HashSet<string> Listed(string help) => [.. Section(help, "Options:").Split('\n').SelectMany(Names)];

    /// <summary>
    /// The option spellings in the first column of a help line (<c>  -?, -h, --help</c>, <c>  --steps
    /// &lt;N&gt;</c>); none on a line that continues a description.
    /// </summary>
    private static IEnumerable<string> Names(string line) =>
        line.StartsWith("  -", StringComparison.Ordinal)
            ? line.Trim().Split("  ")[0].Split(", ").Select(spelling => spelling.Split(' ')[0])
            : [];

    private static string Words(string text) => string.Join(' ', text.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
}
