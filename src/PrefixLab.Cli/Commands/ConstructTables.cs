using System.CommandLine;
using System.Text.Json;
using PrefixLab.Constructions;
using PrefixLab.Interop;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

/// <summary><c>construct pair-map</c>: one virtual token answers a random V × V table.</summary>
internal sealed class PairMapConstruct : ConstructionCommand
{
    private readonly Option<bool> random = Opt.Flag("--random", "a random table (the only kind built)");
    private readonly Option<int> vocab = Opt.Int("--vocab", "V, the vocabulary", 10, 2, 1000, "V");
    private readonly Option<int> seed = Opt.Int("--seed", "seed of the random table", 0, 0, int.MaxValue, "S");
    private readonly Option<ScalarType?> dtype = DTypeOption($"float32 up to V = {ExactLimits.MaxPackedVocab(ScalarType.Float32)}, else float64");
    private readonly Option<string?> save = SaveOption();

    public PairMapConstruct()
        : base("pair-map", "one virtual token answers a random V x V table")
    {
        Declare([random, vocab, seed, dtype, save]);
    }

    protected override int Build(ParseResult parse)
    {
        PrefixLabException.Check(parse.GetValue(random), "pair-map builds a random table: give --random --vocab V [--seed S]");
        int v = parse.GetValue(vocab);
        var type = parse.GetValue(dtype) ?? (v <= ExactLimits.MaxPackedVocab(ScalarType.Float32) ? ScalarType.Float32 : ScalarType.Float64);
        var directory = SaveFolder(parse, save);
        var draws = new Random(parse.GetValue(seed));
        var table = ConstructionsWorkflow.RandomTable(draws, v);
        using var built = new PairMap(v, type);
        var virtuals = built.Encode(table);
        var pairs = ConstructionsWorkflow.AllPairs(v);
        var generated = built.Construction.GenerateWithSoftPrompt(virtuals, pairs);
        Describe(built.Construction, $"V = {v}");
        Console.WriteLine($"table row 0 {string.Join(' ', table[0])} packs to {PairMap.Pack(table[0], v):R}");
        for (int i = 0; i < Math.Min(5, pairs.Length); i++)
        {
            int p = draws.Next(pairs.Length);
            Console.WriteLine($"m({pairs[p][0]}, {pairs[p][1]}) = {table[pairs[p][0]][pairs[p][1]]}, generated {generated[p][0]}");
        }
        int right = Enumerable.Range(0, pairs.Length).Count(i => generated[i][0] == table[pairs[i][0]][pairs[i][1]]);
        Console.WriteLine($"all {pairs.Length} pairs: {right} answered as the table says");
        Save(built.Construction, virtuals, directory, "--tokens \"0 1\"", 1);
        return right == pairs.Length ? 0 : 1;
    }
}

/// <summary><c>construct capacity</c>: distinct generations of single real tokens against virtual tokens.</summary>
internal sealed class CapacityConstruct : ConstructionCommand
{
    private readonly Option<int?> vocab = Required(Opt.IntOrNull("--vocab", "V, up to what the dtype holds exactly", 2, int.MaxValue, valueName: "V"));
    private readonly Option<int?> length = Required(Opt.IntOrNull("--length", "N, the generation length, up to the widest construction built", 1, ExactLimits.MaxWidth));
    private readonly Option<int> samples = Opt.Int("--samples", "virtual tokens to try when the sequences are too many to try all", 10_000, 1, 10_000_000, "K");
    private readonly Option<int> exhaustive = Opt.Int("--exhaustive-up-to", "try every sequence when there are at most M", 100_000, 0, 100_000_000, "M");
    private readonly Option<int> seed = Opt.Int("--seed", "seed of the sampled sequences", 0, 0, int.MaxValue, "S");
    private readonly Option<ScalarType?> dtype = DTypeOption("float32");
    private readonly Option<bool> json = Opt.Flag("--json", "print one JSON object");

    public CapacityConstruct()
        : base("capacity", "distinct length-N generations: single real tokens vs virtual tokens")
    {
        Declare([vocab, length, samples, exhaustive, seed, dtype, json]);
    }

    protected override int Build(ParseResult parse)
    {
        int v = parse.GetValue(vocab)!.Value;
        int n = parse.GetValue(length)!.Value;
        var result = Capacity.Measure(v, n, parse.GetValue(exhaustive), parse.GetValue(samples), parse.GetValue(seed), parse.GetValue(dtype) ?? ScalarType.Float32);
        if (parse.GetValue(json))
        {
            Console.WriteLine(JsonSerializer.Serialize(result, ModelFile.Json));
            return 0;
        }
        Console.WriteLine($"capacity of the unconditional construction, V = {v}, N = {n} ({result.Possible:N0} sequences):");
        Console.WriteLine($"  single real tokens:    {result.RealDistinct:N0} distinct generations from all {result.RealTokens:N0} tokens (at most V = {v:N0})");
        string how = result.Exhaustive ? "every sequence, exhaustively" : $"a random sample of {result.VirtualTried:N0} distinct sequences";
        Console.WriteLine($"  single virtual tokens: {result.VirtualDistinct:N0} distinct generations from {result.VirtualTried:N0} virtual tokens ({how})");
        return 0;
    }

    private static Option<T> Required<T>(Option<T> option)
    {
        option.Required = true;
        return option;
    }
}

/// <summary><c>construct limits</c>: where each construction stops being exact.</summary>
internal sealed class LimitsConstruct : ConstructionCommand
{
    private readonly Option<bool> json = Opt.Flag("--json", "print one JSON object per line");

    public LimitsConstruct()
        : base("limits", "measure where each construction stops being exact") => Declare([json]);

    protected override int Build(ParseResult parse)
    {
        bool asJson = parse.GetValue(json);
        foreach (var row in Exactness.Measure(line => Console.Error.WriteLine(line)))
        {
            Console.WriteLine(asJson ? JsonSerializer.Serialize(row, ModelFile.Json) : row.ToString());
        }
        return 0;
    }
}
