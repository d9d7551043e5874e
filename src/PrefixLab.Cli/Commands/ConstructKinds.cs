using System.CommandLine;
using PrefixLab.Constructions;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

/// <summary><c>construct unconditional</c>: one virtual token makes the model generate a text.</summary>
internal sealed class UnconditionalConstruct : ConstructionCommand
{
    private readonly Option<string> text = Opt.Required("--text", "T", "the text the virtual token makes the model generate");
    private readonly Option<ScalarType?> dtype = DTypeOption("float32");
    private readonly Option<string?> save = SaveOption();

    public UnconditionalConstruct()
        : base("unconditional", "one virtual token makes the model generate a text")
    {
        Declare([text, dtype, save]);
    }

    protected override int Build(ParseResult parse)
    {
        var tokens = AsciiVocabulary.Encode(parse.GetRequiredValue(text));
        var directory = SaveFolder(parse, save);
        PrefixLabException.Check(tokens.Length >= 1, "--text needs at least one character");
        using var built = new Unconditional(AsciiVocabulary.Size, tokens.Length, parse.GetValue(dtype) ?? ScalarType.Float32);
        var virtuals = built.Encode(tokens);
        var generated = built.Construction.GenerateWithSoftPrompt(virtuals, [[]])[0];
        Describe(built.Construction, $"V = {AsciiVocabulary.Size}, N = {tokens.Length}");
        Console.WriteLine($"generated: \"{AsciiVocabulary.Decode(generated)}\"");
        Save(built.Construction, virtuals, directory, "--text \"\"", tokens.Length);
        return 0;
    }
}

/// <summary><c>construct map</c>: one virtual token maps each character to one character.</summary>
internal sealed class MapConstruct : ConstructionCommand
{
    private readonly Option<string?> pairs = Opt.Text("--pairs", "\"a:A,b:B\"", "the characters to map and their answers (others map to themselves)");
    private readonly Option<bool> swapCase = Opt.Flag("--swap-case", "map every letter to the other case");
    private readonly Option<string?> input = Opt.Text("--input", "TEXT", "characters to run through the map", defaultText: "the mapped characters, or a sentence for --swap-case");
    private readonly Option<ScalarType?> dtype = DTypeOption("float32");
    private readonly Option<string?> save = SaveOption();

    public MapConstruct()
        : base("map", "one virtual token maps one character to one (others: itself)", "Give --pairs or --swap-case.")
    {
        Declare([pairs, swapCase, input, dtype, save]);
    }

    protected override int Build(ParseResult parse)
    {
        string? pairsText = parse.GetValue(pairs);
        bool swap = parse.GetValue(swapCase);
        var directory = SaveFolder(parse, save);
        PrefixLabException.Check(pairsText is null != !swap, "map needs exactly one of --pairs \"a:A,b:B\" and --swap-case");
        var map = swap ? AsciiVocabulary.SwapCase() : [.. Enumerable.Range(0, AsciiVocabulary.Size)];
        foreach (var (from, to) in pairsText is null ? [] : ParsePairs(pairsText))
        {
            PrefixLabException.Check(to.Length == 1, $"map answers are one character ('{from}:{to}'); seq-map takes longer ones");
            map[AsciiVocabulary.Encode(from.ToString())[0]] = AsciiVocabulary.Encode(to)[0];
        }
        using var built = new Conditional(AsciiVocabulary.Size, parse.GetValue(dtype) ?? ScalarType.Float32);
        var virtuals = built.Encode(map);
        var all = built.Construction.GenerateWithSoftPrompt(virtuals, [.. Enumerable.Range(0, AsciiVocabulary.Size).Select(c => (IReadOnlyList<int>)[c])]);
        Describe(built.Construction, $"V = {AsciiVocabulary.Size}");
        string text = parse.GetValue(input) ?? (swap ? "When Do Prompting and Prefix-Tuning Work?" : new string([.. ParsePairs(pairsText!).Select(p => p.Input)]));
        string answer = AsciiVocabulary.Decode(AsciiVocabulary.Encode(text).Select(c => all[c][0]));
        Console.WriteLine($"\"{text}\" -> \"{answer}\"");
        int right = Enumerable.Range(0, map.Length).Count(c => all[c][0] == map[c]);
        Console.WriteLine($"all {map.Length} inputs: {right} answered as the map says");
        Save(built.Construction, virtuals, directory, "--text \"a\"", 1);
        return right == map.Length ? 0 : 1;
    }
}

/// <summary><c>construct seq-map</c>: N0 virtual tokens map each character to N0 characters.</summary>
internal sealed class SeqMapConstruct : ConstructionCommand
{
    private readonly Option<string?> pairs = Opt.Text("--pairs", "\"A:lligator,B:ear\"", "the characters to map and their answers");
    private readonly Option<bool> animalsFoods = Opt.Flag("--animals-foods", "the paper's demo: each letter to an animal (upper case) or a food (lower case)");
    private readonly Option<int?> length = Opt.IntOrNull("--length", "N0, the answer length", 1, ExactLimits.MaxWidth,
        "the longest answer; 10 for --animals-foods, as in the paper", "N0");
    private readonly Option<ScalarType?> dtype = DTypeOption("float32");
    private readonly Option<string?> save = SaveOption();

    public SeqMapConstruct()
        : base("seq-map", "N0 virtual tokens map a character to N0 characters", "Give --pairs or --animals-foods.")
    {
        Declare([pairs, animalsFoods, length, dtype, save]);
    }

    protected override int Build(ParseResult parse)
    {
        string? pairsText = parse.GetValue(pairs);
        bool demo = parse.GetValue(animalsFoods);
        PrefixLabException.Check(pairsText is null != !demo, "seq-map needs exactly one of --pairs \"A:lligator,B:ear\" and --animals-foods");
        var map = demo ? AsciiVocabulary.AnimalsAndFoods : ParsePairs(pairsText!);
        int width = parse.GetValue(length) ?? (demo ? 10 : map.Max(p => p.Answer.Length));
        var directory = SaveFolder(parse, save);
        var tooLong = map.FirstOrDefault(p => p.Answer.Length > width);
        PrefixLabException.Check(tooLong.Answer is null, $"answer '{tooLong.Answer}' is longer than --length {width}");
        var answers = ConstructionsWorkflow.SequenceMap(map, width);
        using var built = new TokenToSequence(AsciiVocabulary.Size, width, parse.GetValue(dtype) ?? ScalarType.Float32);
        var virtuals = built.Encode([.. answers.Select(a => (IReadOnlyList<int>)a)]);
        var inputs = map.Select(p => (IReadOnlyList<int>)AsciiVocabulary.Encode(p.Input.ToString())).ToList();
        var generated = built.Construction.GenerateWithSoftPrompt(virtuals, inputs);
        Describe(built.Construction, $"V = {AsciiVocabulary.Size}, N0 = {width}");
        int right = 0;
        for (int i = 0; i < map.Count; i++)
        {
            string answer = AsciiVocabulary.Decode(generated[i]);
            right += answer == map[i].Answer.PadRight(width) ? 1 : 0;
            Console.WriteLine($"{map[i].Input} -> {map[i].Input}{answer.TrimEnd()}");
        }
        Console.WriteLine($"{right} of {map.Count} answered as the map says");
        Save(built.Construction, virtuals, directory, $"--text \"{map[0].Input}\"", width);
        return right == map.Count ? 0 : 1;
    }
}
