using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Evaluation;

/// <summary>Exact-match accuracy of a task.</summary>
/// <param name="Task">The task's name.</param>
/// <param name="Samples">Test samples scored.</param>
/// <param name="Correct">Samples whose every output token was right.</param>
/// <param name="Accuracy">Correct / Samples, from 0 to 1.</param>
public sealed record EvalResult(string Task, int Samples, int Correct, double Accuracy);

/// <summary>Inputs and their correct outputs, drawn from the test split (or the validation split).</summary>
/// <param name="Inputs">Input lists.</param>
/// <param name="Expected">The correct output of each.</param>
public sealed record TestSet(IReadOnlyList<int[]> Inputs, IReadOnlyList<int[]> Expected)
{
    private const ulong EvalStream = 0xE7A1;

    /// <summary>Draws <paramref name="samples"/> inputs of <paramref name="task"/> in <paramref name="split"/> from <paramref name="seed"/>.</summary>
    public static TestSet Draw(ITask task, int samples, ulong seed, DataSplit split = DataSplit.Test)
    {
        if (samples < 1)
        {
            throw new PrefixLabException($"samples must be at least 1 (got {samples})");
        }
        var rng = Rng.For(seed, EvalStream);
        var inputs = new int[samples][];
        var expected = new int[samples][];
        for (int i = 0; i < samples; i++)
        {
            inputs[i] = Splits.SampleInput(task, split, rng);
            expected[i] = task.Output(inputs[i], i);
        }
        return new TestSet(inputs, expected);
    }
}

/// <summary>Scores greedy decoding: a sample counts only if all its output tokens are right.</summary>
public static class Evaluator
{
    /// <summary>Samples scored when nobody says how many: the paper's 3,200.</summary>
    public const int DefaultSamples = 3200;

    /// <summary>
    /// Accuracy of <paramref name="model"/> (with whatever hooks are attached to it) on
    /// <paramref name="samples"/> test samples of <paramref name="task"/> (or samples of another
    /// <paramref name="split"/>), decoded greedily in batches.
    /// </summary>
    public static EvalResult Evaluate(ILanguageModel model, ITask task, int prefixSize, int samples = DefaultSamples, ulong seed = 0, int batchSize = 256, DataSplit split = DataSplit.Test)
    {
        var layout = SequenceLayout.For(task, prefixSize);
        SequenceFit.Check(model, task, layout);
        var test = TestSet.Draw(task, samples, seed, split);
        int correct = 0;
        for (int start = 0; start < samples; start += batchSize)
        {
            int count = Math.Min(batchSize, samples - start);
            var inputs = test.Inputs.Skip(start).Take(count).ToList();
            using var prompts = layout.Prompts(inputs);
            using var generated = Generation.Greedy(model, prompts, layout.OutputLength);
            var tokens = generated.data<long>().ToArray();
            for (int b = 0; b < count; b++)
            {
                var expected = test.Expected[start + b];
                bool right = true;
                for (int t = 0; t < expected.Length && right; t++)
                {
                    right = tokens[(b * layout.OutputLength) + t] == expected[t];
                }
                correct += right ? 1 : 0;
            }
        }
        return new EvalResult(task.Name, samples, correct, (double)correct / samples);
    }
}
