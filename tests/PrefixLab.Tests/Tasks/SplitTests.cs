using PrefixLab.Tasks;
using PrefixLab.Util;

namespace PrefixLab.Tests.Tasks;

public class SplitTests
{
    [Fact]
    public void Split_is_a_fixed_function_of_the_list()
    {
        // Fixed values: the split must not change between processes, runs or versions of .NET.
        Assert.Equal(DataSplit.Train, Splits.Of([2, 6, 0, 1, 4, 6, 3, 0, 1, 2]));
        Assert.Equal(DataSplit.Test, Splits.Of(FirstTestList()));
        Assert.Equal(Splits.Of([2, 6, 0, 1, 4, 6, 3, 0, 1, 2]), Splits.Of([2, 6, 0, 1, 4, 6, 3, 0, 1, 2]));
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
