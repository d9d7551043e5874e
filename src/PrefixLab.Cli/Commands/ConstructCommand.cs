using System.CommandLine;
using PrefixLab.Constructions;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>prefixlab construct KIND</c>: the paper's Section 3 transformers, one subcommand per kind, each
/// with its own options (text is the 95 printable ASCII characters).
/// </summary>
internal sealed class ConstructCommand : Command
{
    public ConstructCommand()
        : base("construct", "build the paper's Section 3 transformers that one virtual token dictates")
    {
        Add(new UnconditionalConstruct());
        Add(new MapConstruct());
        Add(new SeqMapConstruct());
        Add(new PairMapConstruct());
        Add(new CapacityConstruct());
        Add(new LimitsConstruct());
        SetAction(NoKind);
    }

    private int NoKind(ParseResult parse) =>
        throw new PrefixLabException($"construct needs one kind: {string.Join(", ", Subcommands.Select(c => c.Name))}");
}

/// <summary>One kind of <c>construct</c>: runs on one thread, and shares <c>--dtype</c> and <c>--save</c>.</summary>
internal abstract class ConstructionCommand(string name, string summary, string? details = null) : CliCommand(name, summary, details)
{
    protected sealed override int Run(ParseResult parse)
    {
        // The constructions run one token at a time through mostly small products, where OpenMP's
        // hand-offs between threads cost more than they save (5x slower on this shared machine).
        set_num_threads(1);
        return Build(parse);
    }

    /// <summary>Builds the construction, prints what it does, and saves it when asked; returns the exit code.</summary>
    protected abstract int Build(ParseResult parse);

    /// <summary><c>--dtype</c>: the floating-point type the weights are built in.</summary>
    protected static Option<ScalarType?> DTypeOption(string defaultText) =>
        Opt.ParsedValue("--dtype", "float32|float64", "floating-point type of the weights", name => ExactLimits.Parse(name, "--dtype"), defaultText);

    /// <summary><c>--save DIR</c>: where the model and its virtual token(s) go.</summary>
    protected static Option<string?> SaveOption() => Opt.Text("--save", "DIR",
        "write DIR/model.safetensors and DIR/virtual.safetensors (a soft-prompt adapter); DIR must be a folder or new, and those two names regular files or new");

    /// <summary>The folder of <c>--save</c>, checked before the construction is built.</summary>
    protected static string? SaveFolder(ParseResult parse, Option<string?> save)
    {
        string? directory = parse.GetValue(save);
        if (directory is not null)
        {
            new OutputPlan().Directory("--save", directory, "model.safetensors", "virtual.safetensors").Check();
        }
        return directory;
    }

    protected static void Describe(Construction built, string size)
    {
        var c = built.Model.Config;
        long weights = built.Model.parameters().Sum(p => p.numel());
        Console.WriteLine($"{built.Kind}: {size}; {c.Layers} layer(s), {c.Heads} head(s), width {c.Width}, ReLU MLP {c.MlpDepth}x{c.MlpWidth}, no LayerNorm, {weights:N0} weights set by hand ({ExactLimits.Name(built.DType)}); {built.VirtualTokens} virtual token(s)");
    }

    protected static void Save(Construction built, Tensor virtuals, string? directory, string input, int tokens)
    {
        if (directory is null)
        {
            return;
        }
        var (model, adapter) = built.Save(directory, virtuals);
        Console.WriteLine($"saved {model} and {adapter}; run again with:");
        Console.WriteLine($"  prefixlab generate --model {model} --adapter {adapter} {input} --new {tokens}");
    }

    protected static List<(char Input, string Answer)> ParsePairs(string text)
    {
        var pairs = new List<(char, string)>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = item.IndexOf(':', StringComparison.Ordinal);
            PrefixLabException.Check(colon == 1 && item.Length > 2, $"'{item}' in --pairs is not INPUT:ANSWER with a one-character input");
            pairs.Add((item[0], item[2..]));
        }
        PrefixLabException.Check(pairs.Count > 0, "--pairs is empty");
        return pairs;
    }
}
