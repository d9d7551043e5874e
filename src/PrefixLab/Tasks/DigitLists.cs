using PrefixLab.Util;

namespace PrefixLab.Tasks;

/// <summary>
/// The paper's input distribution and its train/test split: lists of 10 digits drawn uniformly from
/// 0..7, half of the draws with more than 5 distinct digits rejected (so repeats are more common).
/// </summary>
public static class DigitLists
{
    /// <summary>Length of a list.</summary>
    public const int Length = 10;

    /// <summary>Digits are drawn from 0..<see cref="MaxDigit"/>.</summary>
    public const int MaxDigit = 7;

    /// <summary>Draws one list with the rejection rule of paper.md §3.</summary>
    public static int[] Sample(Rng rng)
    {
        while (true)
        {
            var list = new int[Length];
            for (int i = 0; i < Length; i++)
            {
                list[i] = rng.Next(MaxDigit + 1);
            }
            if (CountDistinct(list) <= 5 || rng.Next(2) == 0)
            {
                return list;
            }
        }
    }

    /// <summary>Number of distinct values in <paramref name="list"/>.</summary>
    public static int CountDistinct(IEnumerable<int> list) => list.Distinct().Count();
}

/// <summary>Which part of the data a sample belongs to.</summary>
public enum DataSplit
{
    /// <summary>The 75% of inputs training draws from (71.25% when a run holds out <see cref="Validation"/>).</summary>
    Train,

    /// <summary>The 25% of inputs evaluation draws from.</summary>
    Test,

    /// <summary>
    /// One in twenty of the non-test inputs (3.75% of all): what a run that keeps its best weights
    /// scores them on, held out of its training. Runs that hold nothing out train on these too.
    /// </summary>
    Validation,
}

/// <summary>
/// Decides the split of an input from its tokens alone, with a fixed hash (FNV-1a, then a SplitMix
/// finaliser), so every process and machine agrees and no list is ever in both splits.
/// </summary>
public static class Splits
{
    /// <summary>
    /// The split <paramref name="input"/> belongs to: a quarter of all inputs are test. With
    /// <paramref name="holdOutValidation"/>, one in twenty of the others is validation instead of train;
    /// the test split is the same either way.
    /// </summary>
    public static DataSplit Of(ReadOnlySpan<int> input, bool holdOutValidation = false)
    {
        ulong h = 14695981039346656037UL;
        foreach (int token in input)
        {
            h = (h ^ (uint)token) * 1099511628211UL;
        }
        h = Rng.Mix(h);
        if (h % 4 == 0)
        {
            return DataSplit.Test;
        }
        return holdOutValidation && h / 4 % 20 == 0 ? DataSplit.Validation : DataSplit.Train;
    }

    /// <summary>
    /// Draws inputs of <paramref name="task"/> until one falls in <paramref name="split"/>. Training draws
    /// skip the validation inputs only when <paramref name="holdOutValidation"/> is set.
    /// </summary>
    public static int[] SampleInput(ITask task, DataSplit split, Rng rng, bool holdOutValidation = false)
    {
        bool threeWay = holdOutValidation || split == DataSplit.Validation;
        for (int attempt = 0; attempt < 10_000; attempt++)
        {
            var input = task.SampleInput(rng);
            if (Of(input, threeWay) == split)
            {
                return input;
            }
        }
        throw new PrefixLabException($"task '{task.Name}' produced no {split.ToString().ToLowerInvariant()} input in 10,000 draws");
    }
}
