using PrefixLab.Tasks;
using PrefixLab.Util;

namespace PrefixLab.Tests.Tasks;

public class SequenceLayoutTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    public void Training_batch_is_the_shifted_padded_sequence_with_only_outputs_scored(int prefixSize)
    {
        var task = TaskRegistry.Default.Get("descending");
        var layout = SequenceLayout.For(task, prefixSize);
        var (inputs, targets) = layout.TrainingBatch(task, 8, DataSplit.Train, new Rng(1), 0);
        Assert.Equal(new long[] { 8, prefixSize + 19 }, inputs.shape);
        Assert.Equal(inputs.shape, targets.shape);
        var x = inputs.data<long>().ToArray();
        var y = targets.data<long>().ToArray();
        int width = prefixSize + 19;
        for (int b = 0; b < 8; b++)
        {
            var row = x.AsSpan(b * width, width).ToArray();
            var target = y.AsSpan(b * width, width).ToArray();
            Assert.All(row[..prefixSize], t => Assert.Equal(0, t));
            int[] input = [.. row[prefixSize..(prefixSize + 10)].Select(t => (int)t)];
            var expected = task.Output(input, 0);
            // The full sequence is padding, input, output; inputs drop its last token, targets its first.
            long[] sequence = [.. Enumerable.Repeat(0L, prefixSize), .. input.Select(t => (long)t), .. expected.Select(t => (long)t)];
            Assert.Equal(sequence[..^1], row);
            Assert.All(target[..(prefixSize + 9)], t => Assert.Equal(-1, t));
            Assert.Equal(expected.Select(t => (long)t), target[(prefixSize + 9)..]);
        }
    }

    [Fact]
    public void Prompts_are_padding_then_input()
    {
        var layout = SequenceLayout.For(TaskRegistry.Default.Get("ascending"), 2);
        var prompts = layout.Prompts([[1, 2, 3, 4, 5, 6, 7, 0, 1, 2]]);
        Assert.Equal(new long[] { 0, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2 }, prompts.data<long>().ToArray());
    }

    [Fact]
    public void Random_batches_number_their_samples_so_the_mixture_cycles()
    {
        var task = TaskRegistry.Default.Get("random");
        var layout = SequenceLayout.For(task, 1);
        var (inputs, targets) = layout.TrainingBatch(task, 4, DataSplit.Train, new Rng(9), firstIndex: 4);
        var x = inputs.data<long>().ToArray();
        var y = targets.data<long>().ToArray();
        string[] order = ["ascending", "descending", "plus1", "plus2"];
        for (int b = 0; b < 4; b++)
        {
            int[] input = [.. x.Skip((b * 20) + 1).Take(10).Select(t => (int)t)];
            Assert.Equal(TaskRegistry.Default.Get(order[b]).Output(input, 0).Select(t => (long)t), y.Skip((b * 20) + 10).Take(10));
        }
    }
}
