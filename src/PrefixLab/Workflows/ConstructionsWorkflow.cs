using PrefixLab.Constructions;
using static TorchSharp.torch;

namespace PrefixLab.Workflows;

/// <summary>
/// What <c>prefixlab construct</c> and the reproduction's constructions experiment share: the demo maps
/// and random tables the paper's hand-set transformers (Section 3) are given, and the exact-match count
/// of what they generate.
/// </summary>
public static class ConstructionsWorkflow
{
    /// <summary>
    /// The token → sequence map over the 95 ASCII characters: each of <paramref name="pairs"/> answers
    /// its text padded with spaces to <paramref name="length"/>, every other character
    /// <paramref name="length"/> spaces (and is checked too).
    /// </summary>
    public static int[][] SequenceMap(IEnumerable<(char Input, string Answer)> pairs, int length)
    {
        var map = Enumerable.Repeat(new int[length], AsciiVocabulary.Size).ToArray();
        foreach (var (input, answer) in pairs)
        {
            PrefixLabException.Check(answer.Length <= length, $"answer '{answer}' is longer than the answer length {length}");
            map[AsciiVocabulary.Encode(input.ToString())[0]] = AsciiVocabulary.Encode(answer.PadRight(length));
        }
        return map;
    }

    /// <summary>A random <paramref name="vocab"/> × <paramref name="vocab"/> table drawn row by row from <paramref name="random"/>.</summary>
    public static int[][] RandomTable(Random random, int vocab) => RandomRows(random, vocab, vocab, vocab);

    /// <summary><paramref name="count"/> random rows of <paramref name="length"/> tokens below <paramref name="vocab"/>.</summary>
    public static int[][] RandomRows(Random random, int count, int length, int vocab) =>
        [.. Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => random.Next(vocab)).ToArray())];

    /// <summary>Every pair (a, b) of a vocabulary of <paramref name="vocab"/>, a-major: the inputs a pair map answers.</summary>
    public static int[][] AllPairs(int vocab) => [.. Enumerable.Range(0, vocab * vocab).Select(i => new[] { i / vocab, i % vocab })];

    /// <summary>How many rows of <paramref name="generated"/> are exactly their row of <paramref name="expected"/>.</summary>
    public static int Exact(IReadOnlyList<IReadOnlyList<int>> generated, IReadOnlyList<IReadOnlyList<int>> expected) =>
        generated.Zip(expected, (g, e) => g.SequenceEqual(e)).Count(x => x);

    /// <summary>
    /// Greedy generation of every target (<paramref name="virtuals"/>, <c>[targets, virtual tokens, width]</c>)
    /// on every row of <paramref name="inputs"/>, in one batch; the result's rows run target by target, input by input.
    /// </summary>
    public static int[][] Generate(Construction construction, Tensor virtuals, IReadOnlyList<int[]> inputs)
    {
        using var scope = NewDisposeScope();
        long targets = virtuals.shape[0];
        var users = tensor([.. inputs.SelectMany(i => i.Select(t => (long)t))], dtype: ScalarType.Int64).view(inputs.Count, construction.InputTokens).repeat(targets, 1);
        var generated = construction.Generate(virtuals.repeat_interleave(inputs.Count, 0), users);
        var flat = generated.data<long>().ToArray();
        int length = (int)generated.shape[1];
        return [.. flat.Chunk(length).Select(row => row.Select(t => (int)t).ToArray())];
    }
}
