using System.CommandLine;

namespace PrefixLab.Cli;

/// <summary>
/// An option whose value is one of a few words, each standing for a value of <typeparamref name="T"/>.
/// The parser holds the word (so the help shows <c>[default: accuracy]</c>, not the enum's name) and
/// refuses any other; <see cref="Read"/> gives the value it stands for.
/// </summary>
internal sealed class ChoiceOption<T> : Option<string>
{
    private readonly (string Word, T Value)[] choices;

    public ChoiceOption(string name, string description, (string Word, T Value)[] choices)
        : base(name)
    {
        this.choices = choices;
        var words = choices.Select(c => c.Word).ToList();
        string listed = $"{string.Join(", ", words[..^1])} or {words[^1]}";
        HelpName = string.Join('|', words);
        Description = description;
        DefaultValueFactory = _ => words[0];
        CustomParser = r =>
        {
            string text = Opt.Single(r) ?? words[0];
            if (!words.Contains(text))
            {
                r.AddError($"{name} must be {listed} (got '{text}')");
            }
            return text;
        };
        CompletionSources.Add([.. words]);
    }

    /// <summary>The value the given word (or the default) stands for.</summary>
    public T Read(ParseResult parse)
    {
        string word = parse.GetValue(this) ?? choices[0].Word;
        return choices.First(c => c.Word == word).Value;
    }
}
