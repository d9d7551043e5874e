using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests;

/// <summary>
/// Greedy decoding written for the tests apart from the evaluator and the generation code they check:
/// one sequence at a time, one full forward pass per new token, no cache and no batching, and answers
/// computed from the task's definition by the caller. Numbers derived with it are independent of the
/// code under test.
/// </summary>
internal static class GreedyReference
{
    /// <summary>The <paramref name="length"/> tokens <paramref name="model"/> appends to <paramref name="prompt"/>, each its argmax.</summary>
    public static int[] Continue(ILanguageModel model, IReadOnlyList<int> prompt, int length)
    {
        var sequence = prompt.ToList();
        using var _ = no_grad();
        for (int i = 0; i < length; i++)
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(tensor(sequence.Select(t => (long)t).ToArray()).unsqueeze(0));
            sequence.Add((int)logits[0, -1].argmax().item<long>());
        }
        return [.. sequence.Skip(prompt.Count)];
    }

    /// <summary>
    /// Percent of <paramref name="inputs"/> whose greedy continuation after <paramref name="prefixSize"/>
    /// padding zeros and the input is exactly <paramref name="answer"/> of the input.
    /// </summary>
    public static double Accuracy(ILanguageModel model, int prefixSize, IReadOnlyList<int[]> inputs, Func<int[], int[]> answer)
    {
        int right = inputs.Count(input =>
        {
            var expected = answer(input);
            return Continue(model, [.. Enumerable.Repeat(0, prefixSize), .. input], expected.Length).SequenceEqual(expected);
        });
        return 100.0 * right / inputs.Count;
    }
}
