using PrefixLab.Constructions;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Constructions;

/// <summary>Constructions 1 to 3, checked on every target (or many random ones), in one batch each.</summary>
public class LookupTests
{
    [Fact]
    public void Unconditional_generates_every_sequence_of_length_5_over_6_tokens()
    {
        using var construction = new Unconditional(vocab: 6, length: 5);
        var sequences = Enumerate(6, 5);
        Assert.Equal(7_776, sequences.Count);
        var generated = construction.Construction.Generate(construction.Encode(sequences), zeros(sequences.Count, 0, dtype: ScalarType.Int64));
        AssertRows(sequences, generated);
    }

    [Fact]
    public void Conditional_answers_every_map_over_5_tokens()
    {
        const int vocab = 5;
        using var construction = new Conditional(vocab);
        var maps = Enumerate(vocab, vocab);
        Assert.Equal(3_125, maps.Count);
        // Every map with every user token: row (map, c).
        var virtuals = construction.Encode(maps).repeat_interleave(vocab, 0);
        var inputs = tensor([.. maps.SelectMany(_ => Enumerable.Range(0, vocab).Select(c => (long)c))], dtype: ScalarType.Int64).view(-1, 1);
        var generated = construction.Construction.Generate(virtuals, inputs);
        AssertRows([.. maps.SelectMany(m => m.Select(answer => (IReadOnlyList<int>)[answer]))], generated);
    }

    [Fact]
    public void Token_to_sequence_answers_random_maps()
    {
        const int vocab = 12, length = 6, count = 200;
        using var construction = new TokenToSequence(vocab, length);
        var random = new Random(5);
        var maps = Enumerable.Range(0, count)
            .Select(_ => (IReadOnlyList<IReadOnlyList<int>>)[.. Enumerable.Range(0, vocab).Select(_ => (IReadOnlyList<int>)[.. Enumerable.Range(0, length).Select(_ => random.Next(vocab))])])
            .ToList();
        var virtuals = construction.Encode(maps).repeat_interleave(vocab, 0);
        var inputs = tensor([.. maps.SelectMany(_ => Enumerable.Range(0, vocab).Select(c => (long)c))], dtype: ScalarType.Int64).view(-1, 1);
        var generated = construction.Construction.Generate(virtuals, inputs);
        AssertRows([.. maps.SelectMany(m => m)], generated);
    }

    [Fact]
    public void A_soft_prompt_adapter_gives_what_the_batched_virtual_tokens_give()
    {
        using var construction = new TokenToSequence(vocab: 7, length: 3);
        IReadOnlyList<IReadOnlyList<int>> map = [.. Enumerable.Range(0, 7).Select(c => (IReadOnlyList<int>)[c, (c + 1) % 7, 6 - c])];
        var generated = construction.Construction.GenerateWithSoftPrompt(construction.Encode(map), [.. Enumerable.Range(0, 7).Select(c => (IReadOnlyList<int>)[c])]);
        Assert.Equal(map.Select(answer => answer.Select(t => (long)t)), generated);
    }

    [Fact]
    public void The_model_stays_an_ordinary_gpt_and_its_defaults_stay_mingpts()
    {
        using var construction = new Conditional(4);
        var config = construction.Construction.Model.Config;
        Assert.False(config.LayerNorms);
        Assert.Equal(PrefixLab.Model.MlpActivation.Relu, config.Activation);
        Assert.DoesNotContain(construction.Construction.Model.named_parameters(), p => p.name.Contains("ln_", StringComparison.Ordinal));
    }

    internal static List<IReadOnlyList<int>> Enumerate(int vocab, int length)
    {
        var all = new List<IReadOnlyList<int>>();
        int count = (int)Math.Pow(vocab, length);
        for (int i = 0; i < count; i++)
        {
            var digits = new int[length];
            for (int k = 0, rest = i; k < length; k++, rest /= vocab)
            {
                digits[k] = rest % vocab;
            }
            all.Add(digits);
        }
        return all;
    }

    internal static void AssertRows(IReadOnlyList<IReadOnlyList<int>> expected, Tensor generated)
    {
        Assert.Equal(expected.Count, generated.shape[0]);
        var flat = generated.data<long>().ToArray();
        int length = (int)generated.shape[1];
        int wrong = Enumerable.Range(0, expected.Count).Count(i => !expected[i].Select(t => (long)t).SequenceEqual(flat.Skip(i * length).Take(length)));
        Assert.True(wrong == 0, $"{wrong} of {expected.Count} rows generated something else");
    }
}
