using PrefixLab.Tasks;
using PrefixLab.Util;

namespace PrefixLab.Tests.Tasks;

public class SplitTests
{
    [Theory]
    // Expected splits computed outside this code base, by a Python transcription of the definition
    // (FNV-1a over the tokens, then h ^ G + G with G = 0x9E3779B97F4A7C15, test when ≡ 0 mod 4,
    // validation when (h / 4) mod 20 = 0): they must not change between processes, runs or .NET versions.
    [InlineData(new[] { 2, 6, 0, 1, 4, 6, 3, 0, 1, 2 }, DataSplit.Train, DataSplit.Train)]
    [InlineData(new[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, DataSplit.Test, DataSplit.Test)]
    [InlineData(new[] { 1, 2, 3, 4, 5, 6, 7, 0, 1, 2 }, DataSplit.Test, DataSplit.Test)]
    [InlineData(new[] { 3, 1, 4, 1, 5, 2, 6, 5, 3, 5 }, DataSplit.Train, DataSplit.Train)]
    [InlineData(new[] { 0, 0, 0, 0, 0, 0, 0, 0, 6, 0 }, DataSplit.Train, DataSplit.Validation)]
    public void Split_is_a_fixed_function_of_the_list(int[] list, DataSplit split, DataSplit withValidation)
    {
        Assert.Equal(split, Splits.Of(list));
        Assert.Equal(withValidation, Splits.Of(list, holdOutValidation: true));
    }

    [Fact]
    public void The_first_test_list_of_the_enumeration_is_the_second()
    {
        // 0000000001 in base 8 (the Python transcription above finds it at index 1).
        Assert.Equal(new[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, FirstTestList());
    }

    [Fact]
    public void A_quarter_of_lists_are_test_and_samplers_never_cross()
    {
        var rng = new Rng(5);
        var lists = Enumerable.Range(0, 40_000).Select(_ => DigitLists.Sample(rng)).ToList();
        double test = lists.Count(l => Splits.Of(l) == DataSplit.Test) / (double)lists.Count;
        Assert.InRange(test, 0.24, 0.26);

        var task = TaskRegistry.Default.Get("ascending");
        var train = Enumerable.Range(0, 2000).Select(_ => Key(Splits.SampleInput(task, DataSplit.Train, rng))).ToHashSet();
        var testLists = Enumerable.Range(0, 2000).Select(_ => Key(Splits.SampleInput(task, DataSplit.Test, rng))).ToHashSet();
        Assert.Empty(train.Intersect(testLists));
    }

    [Fact]
    public void Holding_out_validation_takes_one_in_twenty_training_lists_and_leaves_test_alone()
    {
        var rng = new Rng(6);
        var lists = Enumerable.Range(0, 40_000).Select(_ => DigitLists.Sample(rng)).ToList();
        foreach (var list in lists)
        {
            var twoWay = Splits.Of(list);
            var threeWay = Splits.Of(list, holdOutValidation: true);
            Assert.True(twoWay == threeWay || (twoWay, threeWay) == (DataSplit.Train, DataSplit.Validation));
        }
        double validation = lists.Count(l => Splits.Of(l, holdOutValidation: true) == DataSplit.Validation) / (double)lists.Count;
        Assert.InRange(validation, 0.030, 0.045); // 1/20 of 75%

        var task = TaskRegistry.Default.Get("ascending");
        var heldOutTraining = Enumerable.Range(0, 4000).Select(_ => Splits.SampleInput(task, DataSplit.Train, rng, holdOutValidation: true)).ToList();
        var validationLists = Enumerable.Range(0, 500).Select(_ => Splits.SampleInput(task, DataSplit.Validation, rng)).ToList();
        Assert.All(heldOutTraining, l => Assert.Equal(DataSplit.Train, Splits.Of(l, holdOutValidation: true)));
        Assert.All(validationLists, l => Assert.Equal(DataSplit.Validation, Splits.Of(l, holdOutValidation: true)));
        Assert.Contains(Enumerable.Range(0, 4000).Select(_ => Splits.SampleInput(task, DataSplit.Train, rng)),
            l => Splits.Of(l, holdOutValidation: true) == DataSplit.Validation); // without holding out, training draws them too
    }

    private static string Key(int[] list) => string.Concat(list);

    private static int[] FirstTestList()
    {
        // The first test list of the enumeration 0000000000, 0000000001, ... in base 8.
        for (int n = 0; ; n++)
        {
            int[] list = [.. Enumerable.Range(0, 10).Select(i => (n >> (3 * (9 - i))) & 7)];
            if (Splits.Of(list) == DataSplit.Test)
            {
                Assert.True(n < 64, $"unexpectedly late first test list at {n}");
                return list;
            }
        }
    }
}
