using PrefixLab.Tasks;
using PrefixLab.Util;

namespace PrefixLab.Tests.Tasks;

public class TaskTests
{
    private static readonly int[] List = [2, 6, 0, 1, 4, 6, 3, 0, 1, 2];

    [Theory]
    [InlineData("ascending", new[] { 0, 0, 1, 1, 2, 2, 3, 4, 6, 6 })]
    [InlineData("descending", new[] { 6, 6, 4, 3, 2, 2, 1, 1, 0, 0 })]
    [InlineData("plus1", new[] { 3, 7, 1, 2, 5, 7, 4, 1, 2, 3 })]
    [InlineData("plus2", new[] { 4, 8, 2, 3, 6, 8, 5, 2, 3, 4 })]
    [InlineData("ascending-plus1", new[] { 1, 1, 2, 2, 3, 3, 4, 5, 7, 7 })]
    [InlineData("histogram", new[] { 2, 2, 2, 2, 1, 2, 1, 2, 2, 2 })]
    public void Each_task_maps_a_hand_written_list(string name, int[] expected)
    {
        Assert.Equal(expected, TaskRegistry.Default.Get(name).Output(List, 0));
    }

    [Fact]
    public void Histogram_of_ten_equal_digits_is_ten_and_fits_the_vocabulary()
    {
        var task = TaskRegistry.Default.Get("histogram");
        Assert.Equal(Enumerable.Repeat(10, 10), task.Output([.. Enumerable.Repeat(7, 10)], 0));
        Assert.Equal(11, TaskRegistry.Default.SharedVocabulary);
    }

    [Fact]
    public void Random_answers_sample_i_with_task_i_mod_4()
    {
        var random = TaskRegistry.Default.Get("random");
        string[] order = ["ascending", "descending", "plus1", "plus2"];
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(TaskRegistry.Default.Get(order[i % 4]).Output(List, 0), random.Output(List, i));
        }
    }

    [Fact]
    public void Aliases_find_tasks_and_unknown_names_fail_with_the_known_ones()
    {
        Assert.Equal("descending", TaskRegistry.Default.Get("↓").Name);
        Assert.Equal("histogram", TaskRegistry.Default.Get("H").Name);
        var error = Assert.Throws<PrefixLabException>(() => TaskRegistry.Default.Get("reverse"));
        Assert.Contains("unknown task 'reverse'", error.Message);
        Assert.Contains("ascending", error.Message);
    }

    [Fact]
    public void A_user_task_registers_beside_the_built_in_ones()
    {
        var registry = new TaskRegistry().Register(new ReverseTask(), "rev");
        Assert.Equal([2, 1, 0, 3, 6, 4, 1, 0, 6, 2], registry.Get("rev").Output(List, 0));
    }

    [Fact]
    public void Sampled_lists_hold_digits_0_to_7_and_favour_few_distinct_values()
    {
        var rng = new Rng(3);
        var lists = Enumerable.Range(0, 20_000).Select(_ => DigitLists.Sample(rng)).ToList();
        Assert.All(lists, l => Assert.True(l.Length == 10 && l.All(d => d is >= 0 and <= 7)));
        // Without rejection 10 uniform digits from 8 have at most 5 distinct values with probability
        // about 0.323; rejecting half of the others raises that to 0.323 / (0.323 + 0.677 / 2) ≈ 0.488.
        double few = lists.Count(l => DigitLists.CountDistinct(l) <= 5) / (double)lists.Count;
        Assert.InRange(few, 0.47, 0.51);
    }

    private sealed class ReverseTask : DigitListTask
    {
        public override string Name => "reverse";

        public override string Description => "reverse the list";

        public override int MaxToken => DigitLists.MaxDigit;

        public override int[] Map(int[] input) => [.. input.Reverse()];
    }
}
