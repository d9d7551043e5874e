using System.Globalization;
using PrefixLab.Constructions;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Experiments;

/// <summary>The unconditional demo: one virtual token generates <see cref="Target"/> (V tokens, N = its length).</summary>
/// <param name="Vocabulary">V (at most the 95 printable ASCII characters, so targets read as text).</param>
/// <param name="Length">N.</param>
/// <param name="Target">The demo text.</param>
public sealed record UnconditionalDemo(int Vocabulary, int Length, string Target);

/// <summary>The conditional demo: one virtual token maps each of the 95 ASCII characters to one.</summary>
/// <param name="Map">The map: <c>swap-case</c>, the paper's.</param>
public sealed record ConditionalDemo(string Map);

/// <summary>The token → sequence demo over the 95 ASCII characters: capital letter → animal, small letter → food.</summary>
/// <param name="Length">N0, the answer length and the number of virtual tokens.</param>
public sealed record TokenToSequenceDemo(int Length);

/// <summary>The pair map: one virtual token answers a random V × V table.</summary>
/// <param name="Vocabulary">V.</param>
/// <param name="Dtype"><c>float32</c> or <c>float64</c>.</param>
public sealed record PairMapDemo(int Vocabulary, string Dtype);

/// <summary>The setup of a <c>constructions</c> spec: the paper's four demos, and random targets beside them.</summary>
/// <param name="Unconditional">Construction 1.</param>
/// <param name="Conditional">Construction 2.</param>
/// <param name="TokenToSequence">Construction 3.</param>
/// <param name="PairMap">Construction 4.</param>
/// <param name="RandomTargets">
/// Random targets checked beside each demo (sequences, maps, tables; the pair map's are all random),
/// drawn from the run's seed. The paper shows one demo each; more targets cost little and show that
/// the demos are not special.
/// </param>
public sealed record ConstructionsSetup(UnconditionalDemo Unconditional, ConditionalDemo Conditional, TokenToSequenceDemo TokenToSequence, PairMapDemo PairMap, Sized<int> RandomTargets);

/// <summary>
/// Runs <c>constructions</c> specs (claim C1, paper Section 3): builds each hand-set transformer, encodes
/// its demo and random targets in virtual tokens, generates greedily and counts the outputs that match
/// exactly. Metrics <c>unconditional/exact</c>, <c>conditional/exact</c>, <c>token-to-sequence/exact</c>
/// and <c>pair-map/exact</c>: percent of checked outputs (a sequence, a map's answer to one user token,
/// a table's answer to one pair) that are exactly the target's.
/// </summary>
public sealed class ConstructionsRunner : IExperimentRunner
{
    /// <summary>The spec kind it runs.</summary>
    public const string KindName = "constructions";

    /// <inheritdoc />
    public string Kind => KindName;

    /// <inheritdoc />
    public int Version => 1;

    /// <inheritdoc />
    public void Validate(ExperimentSpec spec) => Setup(spec);

    /// <inheritdoc />
    /// <remarks>The paper's settings this profile runs differently.</remarks>
    public IReadOnlyList<string> ScaledDown(ExperimentSpec spec, Profile profile) => Declarations.Deviations(spec, profile);

    /// <summary>The metrics <see cref="Run"/> returns for <paramref name="spec"/> under <paramref name="profile"/>.</summary>
    public static IReadOnlyList<MetricName> Metrics(ExperimentSpec spec, Profile profile)
    {
        Setup(spec);
        return [new("unconditional/exact"), new("conditional/exact"), new("token-to-sequence/exact"), new("pair-map/exact")];
    }

    /// <summary>The settings <see cref="Run"/> uses for <paramref name="spec"/> under <paramref name="profile"/>, by name.</summary>
    public static IReadOnlyDictionary<string, double> Settings(ExperimentSpec spec, Profile profile)
    {
        var setup = Setup(spec);
        return new Dictionary<string, double>
        {
            ["unconditional/vocabulary"] = setup.Unconditional.Vocabulary,
            ["unconditional/length"] = setup.Unconditional.Length,
            ["token-to-sequence/length"] = setup.TokenToSequence.Length,
            ["pair-map/vocabulary"] = setup.PairMap.Vocabulary,
            ["random-targets"] = setup.RandomTargets.For(profile),
        };
    }

    /// <inheritdoc />
    public IReadOnlyList<WorkItem> Plan(ExperimentSpec spec, Profile profile, ulong seed) =>
        // Measured on the loaded machine: 2 s with 3 random targets each, 4 s with 20.
        [new($"{spec.Name}/constructions/{seed}", 1.5 + (0.1 * Setup(spec).RandomTargets.For(profile)))];

    /// <inheritdoc />
    public SeedResult Run(ExperimentSpec spec, RunContext context)
    {
        var setup = Setup(spec);
        int extra = setup.RandomTargets.For(context.Profile);
        var random = new Random((int)context.Seed);
        var metrics = new Dictionary<string, double>();
        var notes = new List<string>();
        void Score(string name, int[][] generated, IReadOnlyList<int[]> expected, string what)
        {
            int right = ConstructionsWorkflow.Exact(generated, expected);
            metrics[$"{name}/exact"] = 100.0 * right / expected.Count;
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{name}: {what}: {right:N0} of {expected.Count:N0} exact"));
        }

        context.Report("unconditional generation", null);
        var u = setup.Unconditional;
        using (var built = new Unconditional(u.Vocabulary, u.Length))
        {
            List<int[]> targets = [AsciiVocabulary.Encode(u.Target), .. ConstructionsWorkflow.RandomRows(random, extra, u.Length, u.Vocabulary)];
            var generated = ConstructionsWorkflow.Generate(built.Construction, built.Encode(targets), [[]]);
            Score("unconditional", generated, targets, $"\"{u.Target}\" and {extra} random sequences (V = {u.Vocabulary}, N = {u.Length}), one virtual token each");
            notes.Add($"unconditional: the demo's virtual token generated \"{AsciiVocabulary.Decode(generated[0].Select(t => (long)t))}\"");
        }

        context.Report("conditional map", null);
        using (var built = new Conditional(AsciiVocabulary.Size))
        {
            List<int[]> maps = [AsciiVocabulary.SwapCase(), .. ConstructionsWorkflow.RandomRows(random, extra, AsciiVocabulary.Size, AsciiVocabulary.Size)];
            var generated = ConstructionsWorkflow.Generate(built.Construction, built.Encode(maps), Inputs(AsciiVocabulary.Size));
            Score("conditional", generated, [.. maps.SelectMany(m => m.Select(answer => new[] { answer }))], $"{setup.Conditional.Map} and {extra} random maps, each over all {AsciiVocabulary.Size} user tokens");
        }

        context.Report("token to sequence", null);
        int n0 = setup.TokenToSequence.Length;
        using (var built = new TokenToSequence(AsciiVocabulary.Size, n0))
        {
            // The demo answers the 52 letters; every other character answers N0 spaces, and is checked too.
            var demo = ConstructionsWorkflow.SequenceMap(AsciiVocabulary.AnimalsAndFoods, n0);
            List<int[][]> maps = [demo, .. Enumerable.Range(0, extra).Select(_ => ConstructionsWorkflow.RandomRows(random, AsciiVocabulary.Size, n0, AsciiVocabulary.Size))];
            var generated = ConstructionsWorkflow.Generate(built.Construction, built.Encode([.. maps.Select(m => (IReadOnlyList<IReadOnlyList<int>>)m)]), Inputs(AsciiVocabulary.Size));
            Score("token-to-sequence", generated, [.. maps.SelectMany(m => m)], $"animals and foods ({AsciiVocabulary.AnimalsAndFoods.Count} letters) and {extra} random maps, each over all {AsciiVocabulary.Size} user tokens, N0 = {n0}");
        }

        context.Report("pair map", null);
        var p = setup.PairMap;
        using (var built = new PairMap(p.Vocabulary, ExactLimits.Parse(p.Dtype, "pair_map.dtype")))
        {
            var tables = Enumerable.Range(0, 1 + extra).Select(_ => ConstructionsWorkflow.RandomTable(random, p.Vocabulary)).ToList();
            var pairs = ConstructionsWorkflow.AllPairs(p.Vocabulary);
            var generated = ConstructionsWorkflow.Generate(built.Construction, built.Encode([.. tables.Select(t => (IReadOnlyList<IReadOnlyList<int>>)t)]), pairs);
            Score("pair-map", generated, [.. tables.SelectMany(t => pairs.Select(ab => new[] { t[ab[0]][ab[1]] }))], $"{1 + extra} random tables (V = {p.Vocabulary}, {p.Dtype}), each over all {pairs.Length} pairs");
        }
        return new SeedResult(metrics, notes);
    }

    private static ConstructionsSetup Setup(ExperimentSpec spec)
    {
        var setup = spec.SetupAs<ConstructionsSetup>();
        string where = $"spec '{spec.Name}'";
        object?[] parts = [setup.Unconditional, setup.Conditional, setup.TokenToSequence, setup.PairMap, setup.RandomTargets];
        PrefixLabException.Check(parts.All(p => p is not null), $"{where}: a constructions setup needs unconditional, conditional, token_to_sequence, pair_map and random_targets");
        var u = setup.Unconditional;
        PrefixLabException.Check(u.Vocabulary is >= 2 and <= AsciiVocabulary.Size, $"{where}: the unconditional vocabulary is 2 to {AsciiVocabulary.Size} (the printable ASCII characters)");
        PrefixLabException.Check(u.Target is not null && u.Target.Length == u.Length, $"{where}: the unconditional target must have length {u.Length}");
        PrefixLabException.Check(AsciiVocabulary.Encode(u.Target!).All(t => t < u.Vocabulary), $"{where}: the unconditional target uses characters past the vocabulary of {u.Vocabulary}");
        PrefixLabException.Check(setup.Conditional.Map == "swap-case", $"{where}: the conditional map is 'swap-case' (got '{setup.Conditional.Map}')");
        int longest = AsciiVocabulary.AnimalsAndFoods.Max(a => a.Answer.Length);
        PrefixLabException.Check(setup.TokenToSequence.Length >= longest, $"{where}: token_to_sequence length must fit the longest answer ({longest})");
        ExactLimits.CheckPacked(setup.PairMap.Vocabulary, ExactLimits.Parse(setup.PairMap.Dtype ?? "", $"{where}: pair_map.dtype"));
        PrefixLabException.Check(Profiles.All.All(pr => setup.RandomTargets.For(pr) >= 0), $"{where}: random_targets must be 0 or more");
        return setup;
    }

    /// <summary>Every single user token of a vocabulary of <paramref name="vocab"/>.</summary>
    private static int[][] Inputs(int vocab) => [.. Enumerable.Range(0, vocab).Select(c => new[] { c })];
}
