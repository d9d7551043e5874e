using System.CommandLine;
using System.CommandLine.Parsing;

namespace PrefixLab.Cli;

/// <summary>
/// Turns what the parser found wrong into the one line the error contract promises. The parser's own
/// messages are localised and several may come from one slip (an unknown option and its value), so
/// the line is built here from the parse result's structure, in a fixed order: a missing value, an
/// option given twice, an unknown option or extra argument, a missing required option, then the
/// first value an option's own check refused.
/// </summary>
internal static class ParseErrors
{
    /// <summary>The line to print for <paramref name="args"/>, or null when the command line is good.</summary>
    public static string? Describe(ParseResult parse, IReadOnlyList<string> args)
    {
        var command = parse.CommandResult.Command;
        var known = KnownOptions(command).ToList();
        var given = parse.CommandResult.Children.OfType<OptionResult>().Where(o => o.IdentifierTokenCount > 0).ToList();
        foreach (var o in given)
        {
            bool missing = o.Tokens.Count == 0 && o.Option.Arity.MinimumNumberOfValues > 0;
            if (missing || (o.Tokens.Count > 0 && TakesOptionAsValue(o, o.Tokens[0].Value, args)))
            {
                return $"option {o.Option.Name} needs a value";
            }
        }
        if (given.FirstOrDefault(o => o.IdentifierTokenCount > 1) is { } twice)
        {
            string aliases = twice.Option.Aliases.Count == 0 ? "" : $" (also spelt {string.Join(", ", twice.Option.Aliases)})";
            return $"option {twice.Option.Name}{aliases} given twice";
        }
        if ((parse.UnmatchedTokens.Count > 0 ? parse.UnmatchedTokens[0] : LooseOptionWord(parse)) is { } extra)
        {
            return Unmatched(command, extra, known);
        }
        if (command.Options.FirstOrDefault(o => o.Required && (parse.GetResult(o)?.IdentifierTokenCount ?? 0) == 0) is { } required)
        {
            return $"missing required option {required.Name}";
        }
        return parse.Errors.Count > 0 ? parse.Errors[0].Message : null;
    }

    /// <summary>
    /// True when the word after an option looks like an option itself (<c>--out --iters 5</c>): the
    /// option's value was forgotten. A value that starts with <c>--</c> can still be given as
    /// <c>--prompt=--text</c>.
    /// </summary>
    private static bool TakesOptionAsValue(OptionResult option, string value, IReadOnlyList<string> args) =>
        value.StartsWith("--", StringComparison.Ordinal) && option.Option.Arity.MaximumNumberOfValues > 0
        && !option.Option.Aliases.Prepend(option.Option.Name).Any(name => args.Contains($"{name}={value}") || args.Contains($"{name}:{value}"));

    /// <summary>Every spelling of the options <paramref name="command"/> accepts, its ancestors' recursive ones (help) included.</summary>
    public static IEnumerable<string> KnownOptions(Command command)
    {
        var options = command.Options.ToList();
        for (var parent = command.Parents.OfType<Command>().FirstOrDefault(); parent is not null; parent = parent.Parents.OfType<Command>().FirstOrDefault())
        {
            options.AddRange(parent.Options.Where(o => o.Recursive));
        }
        return options.SelectMany(o => o.Aliases.Prepend(o.Name));
    }

    /// <summary>"unknown command 'tun' (did you mean 'tune'?)", or the known commands when none is close.</summary>
    public static string UnknownCommand(Command parent, string word)
    {
        var names = parent.Subcommands.Select(c => c.Name).ToList();
        string hint = Suggestions.DidYouMean(word, names, n => $"'{n}'");
        return $"unknown command '{word}'{(hint.Length > 0 ? hint : $" (known: {string.Join(", ", names)})")}";
    }

    private static string Unmatched(Command command, string word, List<string> known)
    {
        if (LooksLikeOption(word))
        {
            return $"unknown option {word}{Suggestions.DidYouMean(word, known)}";
        }
        if (command.Subcommands.Count > 0)
        {
            return UnknownCommand(command, word); // the root or construct: a word that is not one of its commands
        }
        return command.Arguments.Count == 0
            ? $"unexpected argument '{word}': this command takes only --options (quote a value that has spaces)"
            : $"unexpected argument '{word}'";
    }

    /// <summary>
    /// A word like an option among a command's own arguments (<c>curves LOG...</c> takes any word as a
    /// log): a mistyped option would otherwise be read as a file name.
    /// </summary>
    private static string? LooseOptionWord(ParseResult parse) =>
        parse.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).Select(t => t.Value).FirstOrDefault(LooksLikeOption);

    private static bool LooksLikeOption(string word) => word.Length > 1 && word[0] == '-' && !char.IsDigit(word[1]) && word[1] != '.';
}
