using static TorchSharp.torch;

namespace PrefixLab.Constructions;

/// <summary>One measured limit.</summary>
/// <param name="Construction">Which construction.</param>
/// <param name="DType">float32 or float64.</param>
/// <param name="Quantity">What grows: V, N or N0.</param>
/// <param name="LargestExact">The largest value checked exact.</param>
/// <param name="Evidence">What was run there, and what happened one past it.</param>
/// <param name="Bound">What stops it.</param>
public sealed record LimitRow(string Construction, string DType, string Quantity, long LargestExact, string Evidence, string Bound)
{
    /// <inheritdoc />
    public override string ToString() => $"{Construction,-14} {DType,-8} {Quantity,-3} largest exact {LargestExact,6:N0}  {Evidence}; bound: {Bound}";
}

/// <summary>
/// Measures where the constructions stop being exact, in float32 and float64: each row builds the
/// construction at the largest size its bound allows, runs greedy generation on targets there, and
/// (for the precision bounds) builds one size past it anyway to show that it then fails.
/// </summary>
public static class Exactness
{
    private const int Text = AsciiVocabulary.Size;

    /// <summary>Runs every measurement; <paramref name="progress"/> hears each before it starts (the largest take a minute).</summary>
    public static IEnumerable<LimitRow> Measure(Action<string> progress)
    {
        var random = new Random(0);
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            string name = ExactLimits.Name(dtype);
            progress($"{name}: vocabulary of the lookup constructions");
            yield return Vocabulary(dtype);

            progress($"{name}: unconditional length");
            int n = Largest(k => LookupModel.WidthFor(1, k, byPosition: true));
            using (var u = new Unconditional(Text, n, dtype))
            {
                var sequence = Draw(random, n, Text);
                int wrong = Mismatches(u.Construction.Generate(u.Encode([sequence]), zeros(1, 0, dtype: ScalarType.Int64)), [sequence]);
                yield return new("unconditional", name, "N", n, $"V = {Text}: a random sequence of {n}, {wrong} wrong; N = {n + 1} is refused", "width 3N + 5 reaches the 1,024 built here (memory); attention stays exactly one-hot at any length");
            }

            progress($"{name}: map vocabulary");
            int v = Largest(k => LookupModel.WidthFor(1, k, byPosition: false));
            using (var m = new Conditional(v, dtype))
            {
                var map = Draw(random, v, v);
                var inputs = Enumerable.Range(0, 64).Select(i => i == 0 ? v - 1 : random.Next(v)).ToArray();
                var generated = m.Construction.Generate(m.Encode([map]).expand(inputs.Length, -1, -1), tensor(inputs.Select(i => (long)i).ToArray()).view(-1, 1));
                int wrong = Mismatches(generated, [.. inputs.Select(i => (IReadOnlyList<int>)[map[i]])]);
                yield return new("map", name, "V", v, $"a random map, 64 inputs, {wrong} wrong; V = {v + 1} is refused", "width 4V + 5 reaches the 1,024 built here (memory), before the unembedding's bound");
            }

            progress($"{name}: seq-map length ");
            int n0 = Largest(k => LookupModel.WidthFor(k, Text, byPosition: false));
            using (var s = new TokenToSequence(Text, n0, dtype))
            {
                var map = Enumerable.Range(0, Text).Select(_ => (IReadOnlyList<int>)Draw(random, n0, Text)).ToList();
                int input = random.Next(Text);
                int wrong = Mismatches(s.Construction.Generate(s.Encode([map]), tensor(new long[] { input }).view(1, 1)), [map[input]]);
                yield return new("seq-map", name, "N0", n0, $"V = {Text}: a random map, one input's {n0} tokens, {wrong} wrong; N0 = {n0 + 1} is refused", "width 4V + 2·N0 + 3 reaches the 1,024 built here (memory)");
            }

            progress($"{name}: pair-map vocabulary");
            yield return Packed(dtype, random);
        }
    }

    /// <summary>The unembedding's bound, shared by constructions 1 to 3: every value at the bound, then past it until a value fails.</summary>
    private static LimitRow Vocabulary(ScalarType dtype)
    {
        string name = ExactLimits.Name(dtype);
        int bound = ExactLimits.MaxVocab(dtype);
        const string Why = "logits 2·z·c − c² must be exact integers: (V−1)² ≤ 2^24 (float32) or 2^53 (float64); 2·z·c is even, so exact to 2^25 (float32)";
        if (dtype == ScalarType.Float64)
        {
            const int Checked = 200_000; // wte and lm_head are V × width: the bound itself needs gigabytes
            int wrongHere = WrongValues(Checked, dtype);
            return new("unconditional", name, "V", Checked, $"all {Checked:N0} values, {wrongHere} wrong (the bound, V = {bound:N0}, needs V × width embeddings past this machine's memory)", Why);
        }
        int wrong = WrongValues(bound, dtype);
        int past = bound + 1;
        while (past < 4 * bound && WrongValues(past, dtype) == 0)
        {
            past++;
        }
        return new("unconditional", name, "V", wrong == 0 ? past - 1 : 0, $"all values at V = {bound:N0}: {wrong} wrong; every V up to {past - 1:N0} exact, V = {past:N0} is the first with a wrong value", Why);
    }

    /// <summary>Wrong tokens when the unconditional construction for V generates every value 0..V−1 (one-token sequences).</summary>
    private static int WrongValues(int vocab, ScalarType dtype)
    {
        using var u = new Unconditional(vocab, 1, dtype, enforceLimits: false);
        int wrong = 0;
        // In chunks: the logits of a batch are batch × V, which for all V values at once is V².
        foreach (var chunk in Enumerable.Range(0, vocab).Select(y => (IReadOnlyList<int>)[y]).Chunk(2048))
        {
            using var scope = NewDisposeScope();
            wrong += Mismatches(u.Construction.Generate(u.Encode(chunk), zeros(chunk.Length, 0, dtype: ScalarType.Int64)), chunk);
        }
        return wrong;
    }

    private static LimitRow Packed(ScalarType dtype, Random random)
    {
        int bound = ExactLimits.MaxPackedVocab(dtype);
        int Wrong(int v)
        {
            using var p = new PairMap(v, dtype, enforceLimits: false);
            using var scope = NewDisposeScope();
            var tables = Enumerable.Range(0, 20).Select(_ => (IReadOnlyList<IReadOnlyList<int>>)[.. Enumerable.Range(0, v).Select(_ => (IReadOnlyList<int>)Draw(random, v, v))]).ToList();
            var inputs = tensor(Enumerable.Range(0, v * v).SelectMany(i => new long[] { i / v, i % v }).ToArray()).view(-1, 2).repeat(tables.Count, 1);
            var generated = p.Construction.Generate(p.Encode(tables).repeat_interleave(v * v, 0), inputs).data<long>().ToArray();
            return Enumerable.Range(0, generated.Length).Count(i => generated[i] != tables[i / (v * v)][i % (v * v) / v][i % v]);
        }
        int here = Wrong(bound), past = Wrong(bound + 1);
        return new("pair-map", ExactLimits.Name(dtype), "V", here == 0 ? bound : 0,
            $"20 random tables, all pairs: {here} wrong at V = {bound}, {past} of {20 * (bound + 1) * (bound + 1):N0} wrong at V = {bound + 1} (built anyway)",
            "a packed row is an integer up to V^V, which must be exact: V^V ≤ 2^24 (float32) or 2^53 (float64)");
    }

    /// <summary>The largest k ≥ 1 whose model <paramref name="width"/> (growing with k) keeps within <see cref="ExactLimits.MaxWidth"/>.</summary>
    private static int Largest(Func<int, int> width)
    {
        int k = 1;
        while (width(k + 1) <= ExactLimits.MaxWidth)
        {
            k++;
        }
        return k;
    }

    private static int[] Draw(Random random, int length, int vocab) => [.. Enumerable.Range(0, length).Select(_ => random.Next(vocab))];

    private static int Mismatches(Tensor generated, IReadOnlyList<IReadOnlyList<int>> expected)
    {
        var flat = generated.data<long>().ToArray();
        int length = (int)generated.shape[1];
        return Enumerable.Range(0, flat.Length).Count(i => flat[i] != expected[i / length][i % length]);
    }
}
