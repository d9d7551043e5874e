using System.CommandLine;
using System.Reflection;
using PrefixLab.Cli;
using PrefixLab.Tuning;

namespace PrefixLab.Tests.Cli;

/// <summary>
/// The command line as the parser defines it: each command's help lists every option the command
/// accepts and nothing it refuses, <c>help CMD</c> is <c>CMD --help</c>, <c>--version</c> is the
/// assembly's, a typo gets a suggestion, and every slip on any command is one line and exit code 2.
/// </summary>
public class ParserCliTests
{
    /// <summary>Every command that runs, by the words that call it (<c>tune</c>, <c>construct map</c>).</summary>
    public static TheoryData<string> Commands() => [.. Paths(CliApp.Build()).Where(p => Command(p) is CliCommand)];

    /// <summary>Every command, those that group others (<c>construct</c>) included.</summary>
    public static TheoryData<string> AllCommands() => [.. Paths(CliApp.Build())];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Help_lists_every_option_the_command_accepts_with_its_description_and_names_no_other(string name)
    {
        var command = Command(name);
        var (code, help, stderr) = CliTests.Run([.. name.Split(' '), "--help"]);
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
        var (_, help, _) = CliTests.Run([.. name.Split(' '), "--help"]);
        foreach (var option in Command(name).Options.Where(o => o.HasDefaultValue && o.ValueType != typeof(bool)))
        {
            Assert.Contains($"[default: {option.GetDefaultValue()}]", Words(Line(help, option.Name)));
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
        var (code, viaHelp, stderr) = CliTests.Run(["help", .. name.Split(' ')]);
        Assert.True(code == 0, stderr);
        var (_, viaOption, _) = CliTests.Run([.. name.Split(' '), "--help"]);
        Assert.Equal(viaOption, viaHelp);
        Assert.NotEqual(CliTests.Run("--help").Stdout, viaHelp);
    }

    [Theory]
    [InlineData("tune")]
    [InlineData("params")]
    public void Every_knob_of_every_registered_method_is_an_option(string name)
    {
        var options = Command(name).Options.Select(o => o.Name).ToHashSet();
        Assert.All(TuningMethods.Knobs, knob => Assert.Contains($"--{knob.Name}", options));
    }

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
    [InlineData("pretrain --task plus1 --out x.safetensors --iter 5", "unknown option --iter (did you mean --iters?)")]
    [InlineData("tune --model m --method lora --rnak 2", "unknown option --rnak (did you mean --rank?)")]
    [InlineData("construct capcity --vocab 4 --length 2", "unknown command 'capcity' (did you mean 'capacity'?)")]
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
        string[] words = name.Split(' ');
        var slips = new List<(string[] Args, string Expected)> { ([.. words, "--no-such-option"], "unknown option --no-such-option") };
        if (command.Options.FirstOrDefault(o => o.Arity.MinimumNumberOfValues > 0) is { } valued)
        {
            slips.Add(([.. words, valued.Name], $"option {valued.Name} needs a value"));
            slips.Add(([.. words, valued.Name, "1", valued.Name, "1"], $"option {valued.Name} given twice"));
            slips.Add(([.. words, valued.Name, "--help-me"], $"option {valued.Name} needs a value"));
        }
        if (command.Options.FirstOrDefault(o => o.ValueType == typeof(bool)) is { } flag)
        {
            slips.Add(([.. words, flag.Name, flag.Name], $"option {flag.Name} given twice"));
        }
        if (command.Arguments.Count == 0)
        {
            slips.Add(([.. words, "stray"], "unexpected argument 'stray'"));
        }
        foreach (var (args, expected) in slips)
        {
            var (code, stdout, stderr) = CliTests.Run(args);
            Assert.True(code == 2, $"{string.Join(' ', args)}: exit code {code}: {stderr}");
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"prefixlab {name}: error: ", line);
            Assert.DoesNotContain("internal error", line);
            Assert.Contains(expected, line);
            Assert.Equal("", stdout);
        }
    }

    /// <summary>The command <paramref name="path"/> calls, as the app builds it (under the root that gives it <c>--help</c>).</summary>
    private static Command Command(string path) =>
        path.Split(' ').Aggregate(CliApp.Build(), (parent, name) => parent.Subcommands.Single(c => c.Name == name));

    private static IEnumerable<string> Paths(Command parent) =>
        parent.Subcommands.Where(c => c.Name != "help").SelectMany(c => Paths(c).Select(p => $"{c.Name} {p}").Prepend(c.Name));

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
