using PrefixLab.Constructions;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Constructions;

public class PairMapTests
{
    [Theory]
    [InlineData(2, ScalarType.Float32)]
    [InlineData(5, ScalarType.Float32)]
    [InlineData(8, ScalarType.Float32)]
    [InlineData(10, ScalarType.Float64)]
    [InlineData(13, ScalarType.Float64)]
    public void Random_tables_are_answered_exactly_for_every_pair(int vocab, ScalarType dtype)
    {
        using var construction = new PairMap(vocab, dtype);
        var random = new Random(vocab);
        var tables = Enumerable.Range(0, Math.Max(5, 2000 / (vocab * vocab))).Select(_ => RandomTable(random, vocab)).ToList();
        Assert.Equal(0, Wrong(construction, tables));
    }

    [Theory]
    [InlineData(9, ScalarType.Float32, "largest exact V: 8")]
    [InlineData(14, ScalarType.Float64, "largest exact V: 13")]
    public void Past_the_mantissa_the_construction_is_refused_with_the_reason(int vocab, ScalarType dtype, string expected)
    {
        var error = Assert.Throws<PrefixLabException>(() => new PairMap(vocab, dtype));
        Assert.Contains(expected, error.Message);
        Assert.Contains("V^V", error.Message);
    }

    [Fact]
    public void Past_the_mantissa_it_would_indeed_answer_wrongly()
    {
        using var construction = new PairMap(9, ScalarType.Float32, enforceLimits: false);
        var random = new Random(9);
        Assert.True(Wrong(construction, [.. Enumerable.Range(0, 20).Select(_ => RandomTable(random, 9))]) > 0);
    }

    internal static IReadOnlyList<IReadOnlyList<int>> RandomTable(Random random, int vocab) =>
        [.. Enumerable.Range(0, vocab).Select(_ => (IReadOnlyList<int>)[.. Enumerable.Range(0, vocab).Select(_ => random.Next(vocab))])];

    /// <summary>How many (table, a, b) answers differ from the table, all pairs of all tables in one batch.</summary>
    internal static int Wrong(PairMap construction, IReadOnlyList<IReadOnlyList<IReadOnlyList<int>>> tables)
    {
        int v = construction.Vocab;
        var virtuals = construction.Encode(tables).repeat_interleave(v * v, 0);
        var pairs = Enumerable.Range(0, v * v).SelectMany(i => new long[] { i / v, i % v }).ToArray();
        var inputs = tensor(pairs, dtype: ScalarType.Int64).view(-1, 2).repeat(tables.Count, 1);
        var generated = construction.Construction.Generate(virtuals, inputs).data<long>().ToArray();
        return Enumerable.Range(0, generated.Length).Count(i => generated[i] != tables[i / (v * v)][i % (v * v) / v][i % v]);
    }
}
