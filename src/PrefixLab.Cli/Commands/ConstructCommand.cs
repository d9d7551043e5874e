using System.Text.Json;
using PrefixLab.Constructions;
using PrefixLab.Interop;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class ConstructCommand : ICommand
{
    public string Name => "construct";

    public string Summary => "build the paper's Section 3 transformers that one virtual token dictates";

    public string Usage => """
        prefixlab construct KIND [options]      (paper Section 3; text is the 95 printable ASCII characters)
          unconditional --text T              one virtual token makes the model generate T
          map --pairs "a:A,b:B" | --swap-case one virtual token maps one character to one (others: itself)
              [--input TEXT]                  characters to run through the map
          seq-map --pairs "A:lligator,B:ear" | --animals-foods
              [--length N0]                   N0 virtual tokens map a character to N0 characters (default:
                                              the longest answer; 10 for --animals-foods, as in the paper)
          pair-map --random --vocab V [--seed S]  one virtual token answers a random V x V table
          capacity --vocab V --length N [--samples K] [--exhaustive-up-to M] [--seed S] [--json]
                                              distinct length-N generations: single real tokens vs virtual tokens
          limits [--json]                     measure where each construction stops being exact
        Options: --dtype float32|float64 (default float32; pair-map: float64 when V > 8),
                 --save DIR  writes DIR/model.safetensors and DIR/virtual.safetensors (a soft-prompt adapter);
                             DIR must be a folder or new, and those two names regular files or new
        Ranges: pair-map --vocab 2-1000, capacity --vocab 2 up to what the dtype holds exactly, --length 1 up to
        the widest construction built, --samples 1-10000000, --exhaustive-up-to 0-100000000, --seed 0 or more.
        """;

    public int Run(Arguments args)
    {
        // The constructions run one token at a time through mostly small products, where OpenMP's
        // hand-offs between threads cost more than they save (5x slower on this shared machine).
        set_num_threads(1);
        PrefixLabException.Check(args.Positional.Count == 1, "construct needs one kind: unconditional, map, seq-map, pair-map, capacity or limits");
        return args.Positional[0] switch
        {
            "unconditional" => Unconditional(args),
            "map" => Map(args),
            "seq-map" => SeqMap(args),
            "pair-map" => PairMap(args),
            "capacity" => CapacityCount(args),
            "limits" => Limits(args),
            var other => throw new PrefixLabException($"unknown construction '{other}' (known: unconditional, map, seq-map, pair-map, capacity, limits)"),
        };
    }

    private static int Unconditional(Arguments args)
    {
        var text = AsciiVocabulary.Encode(args.Required("text"));
        var (dtype, save) = (DType(args, ScalarType.Float32), SaveFolder(args));
        args.EnsureAllUsed();
        PrefixLabException.Check(text.Length >= 1, "--text needs at least one character");
        using var built = new Unconditional(AsciiVocabulary.Size, text.Length, dtype);
        var virtuals = built.Encode(text);
        var generated = built.Construction.GenerateWithSoftPrompt(virtuals, [[]])[0];
        Describe(built.Construction, $"V = {AsciiVocabulary.Size}, N = {text.Length}");
        Console.WriteLine($"generated: \"{AsciiVocabulary.Decode(generated)}\"");
        Save(built.Construction, virtuals, save, "--text \"\"", text.Length);
        return 0;
    }

    private static int Map(Arguments args)
    {
        string? pairs = args.Optional("pairs");
        bool swap = args.Flag("swap-case");
        string? input = args.Optional("input");
        var (dtype, save) = (DType(args, ScalarType.Float32), SaveFolder(args));
        args.EnsureAllUsed();
        PrefixLabException.Check(pairs is null != !swap, "map needs exactly one of --pairs \"a:A,b:B\" and --swap-case");
        var map = swap ? AsciiVocabulary.SwapCase() : [.. Enumerable.Range(0, AsciiVocabulary.Size)];
        foreach (var (from, to) in pairs is null ? [] : ParsePairs(pairs))
        {
            PrefixLabException.Check(to.Length == 1, $"map answers are one character ('{from}:{to}'); seq-map takes longer ones");
            map[AsciiVocabulary.Encode(from.ToString())[0]] = AsciiVocabulary.Encode(to)[0];
        }
        using var built = new Conditional(AsciiVocabulary.Size, dtype);
        var virtuals = built.Encode(map);
        var all = built.Construction.GenerateWithSoftPrompt(virtuals, [.. Enumerable.Range(0, AsciiVocabulary.Size).Select(c => (IReadOnlyList<int>)[c])]);
        Describe(built.Construction, $"V = {AsciiVocabulary.Size}");
        string text = input ?? (swap ? "When Do Prompting and Prefix-Tuning Work?" : new string([.. ParsePairs(pairs!).Select(p => p.Input)]));
        string answer = AsciiVocabulary.Decode(AsciiVocabulary.Encode(text).Select(c => all[c][0]));
        Console.WriteLine($"\"{text}\" -> \"{answer}\"");
        int right = Enumerable.Range(0, map.Length).Count(c => all[c][0] == map[c]);
        Console.WriteLine($"all {map.Length} inputs: {right} answered as the map says");
        Save(built.Construction, virtuals, save, "--text \"a\"", 1);
        return right == map.Length ? 0 : 1;
    }

    private static int SeqMap(Arguments args)
    {
        string? pairsText = args.Optional("pairs");
        bool demo = args.Flag("animals-foods");
        PrefixLabException.Check(pairsText is null != !demo, "seq-map needs exactly one of --pairs \"A:lligator,B:ear\" and --animals-foods");
        var pairs = demo ? AsciiVocabulary.AnimalsAndFoods : ParsePairs(pairsText!);
        int length = args.Int("length", demo ? 10 : pairs.Max(p => p.Answer.Length), 1, ExactLimits.MaxWidth);
        var (dtype, save) = (DType(args, ScalarType.Float32), SaveFolder(args));
        args.EnsureAllUsed();
        var tooLong = pairs.FirstOrDefault(p => p.Answer.Length > length);
        PrefixLabException.Check(tooLong.Answer is null, $"answer '{tooLong.Answer}' is longer than --length {length}");
        var map = ConstructionsWorkflow.SequenceMap(pairs, length);
        using var built = new TokenToSequence(AsciiVocabulary.Size, length, dtype);
        var virtuals = built.Encode([.. map.Select(a => (IReadOnlyList<int>)a)]);
        var inputs = pairs.Select(p => (IReadOnlyList<int>)AsciiVocabulary.Encode(p.Input.ToString())).ToList();
        var generated = built.Construction.GenerateWithSoftPrompt(virtuals, inputs);
        Describe(built.Construction, $"V = {AsciiVocabulary.Size}, N0 = {length}");
        int right = 0;
        for (int i = 0; i < pairs.Count; i++)
        {
            string answer = AsciiVocabulary.Decode(generated[i]);
            right += answer == pairs[i].Answer.PadRight(length) ? 1 : 0;
            Console.WriteLine($"{pairs[i].Input} -> {pairs[i].Input}{answer.TrimEnd()}");
        }
        Console.WriteLine($"{right} of {pairs.Count} answered as the map says");
        Save(built.Construction, virtuals, save, $"--text \"{pairs[0].Input}\"", length);
        return right == pairs.Count ? 0 : 1;
    }

    private static int PairMap(Arguments args)
    {
        PrefixLabException.Check(args.Flag("random"), "pair-map builds a random table: give --random --vocab V [--seed S]");
        int vocab = args.Int("vocab", 10, 2, 1000);
        int seed = args.Int("seed", 0, 0);
        var (dtype, save) = (DType(args, vocab <= ExactLimits.MaxPackedVocab(ScalarType.Float32) ? ScalarType.Float32 : ScalarType.Float64), SaveFolder(args));
        args.EnsureAllUsed();
        var random = new Random(seed);
        var table = ConstructionsWorkflow.RandomTable(random, vocab);
        using var built = new PairMap(vocab, dtype);
        var virtuals = built.Encode(table);
        var pairs = ConstructionsWorkflow.AllPairs(vocab);
        var generated = built.Construction.GenerateWithSoftPrompt(virtuals, pairs);
        Describe(built.Construction, $"V = {vocab}");
        Console.WriteLine($"table row 0 {string.Join(' ', table[0])} packs to {Constructions.PairMap.Pack(table[0], vocab):R}");
        for (int i = 0; i < Math.Min(5, pairs.Length); i++)
        {
            int p = random.Next(pairs.Length);
            Console.WriteLine($"m({pairs[p][0]}, {pairs[p][1]}) = {table[pairs[p][0]][pairs[p][1]]}, generated {generated[p][0]}");
        }
        int right = Enumerable.Range(0, pairs.Length).Count(i => generated[i][0] == table[pairs[i][0]][pairs[i][1]]);
        Console.WriteLine($"all {pairs.Length} pairs: {right} answered as the table says");
        Save(built.Construction, virtuals, save, "--tokens \"0 1\"", 1);
        return right == pairs.Length ? 0 : 1;
    }

    private static int CapacityCount(Arguments args)
    {
        int vocab = args.Int("vocab", 0, 2, int.MaxValue);
        int length = args.Int("length", 0, 1, ExactLimits.MaxWidth);
        int samples = args.Int("samples", 10_000, 1, 10_000_000);
        long exhaustive = args.Long("exhaustive-up-to", 100_000, 0, 100_000_000);
        int seed = args.Int("seed", 0, 0);
        var dtype = DType(args, ScalarType.Float32);
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        var result = Capacity.Measure(vocab, length, exhaustive, samples, seed, dtype);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(result, ModelFile.Json));
            return 0;
        }
        Console.WriteLine($"capacity of the unconditional construction, V = {vocab}, N = {length} ({result.Possible:N0} sequences):");
        Console.WriteLine($"  single real tokens:    {result.RealDistinct:N0} distinct generations from all {result.RealTokens:N0} tokens (at most V = {vocab:N0})");
        string how = result.Exhaustive ? "every sequence, exhaustively" : $"a random sample of {result.VirtualTried:N0} distinct sequences";
        Console.WriteLine($"  single virtual tokens: {result.VirtualDistinct:N0} distinct generations from {result.VirtualTried:N0} virtual tokens ({how})");
        return 0;
    }

    private static int Limits(Arguments args)
    {
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        foreach (var row in Exactness.Measure(line => Console.Error.WriteLine(line)))
        {
            Console.WriteLine(json ? JsonSerializer.Serialize(row, ModelFile.Json) : row.ToString());
        }
        return 0;
    }

    private static ScalarType DType(Arguments args, ScalarType fallback) =>
        args.Optional("dtype") is { } name ? ExactLimits.Parse(name, "--dtype") : fallback;

    private static List<(char Input, string Answer)> ParsePairs(string text)
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

    private static void Describe(Construction built, string size)
    {
        var c = built.Model.Config;
        long weights = built.Model.parameters().Sum(p => p.numel());
        Console.WriteLine($"{built.Kind}: {size}; {c.Layers} layer(s), {c.Heads} head(s), width {c.Width}, ReLU MLP {c.MlpDepth}x{c.MlpWidth}, no LayerNorm, {weights:N0} weights set by hand ({ExactLimits.Name(built.DType)}); {built.VirtualTokens} virtual token(s)");
    }

    /// <summary>The folder of <c>--save</c>, checked before the construction is built.</summary>
    private static string? SaveFolder(Arguments args)
    {
        string? directory = args.Optional("save");
        if (directory is not null)
        {
            new OutputPlan().Directory("--save", directory, "model.safetensors", "virtual.safetensors").Check();
        }
        return directory;
    }

    private static void Save(Construction built, Tensor virtuals, string? directory, string input, int tokens)
    {
        if (directory is null)
        {
            return;
        }
        var (model, adapter) = built.Save(directory, virtuals);
        Console.WriteLine($"saved {model} and {adapter}; run again with:");
        Console.WriteLine($"  prefixlab generate --model {model} --adapter {adapter} {input} --new {tokens}");
    }
}
