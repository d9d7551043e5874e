using PrefixLab.Util;

namespace PrefixLab.Tasks;

/// <summary>
/// Base of the paper's tasks: 10 input digits from <see cref="DigitLists"/>, 10 output tokens computed
/// from the input alone. A new list task only states its name and its <see cref="Map"/>.
/// </summary>
public abstract class DigitListTask : ITask
{
    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public abstract string Description { get; }

    /// <inheritdoc />
    public int InputLength => DigitLists.Length;

    /// <inheritdoc />
    public int OutputLength => DigitLists.Length;

    /// <inheritdoc />
    public abstract int MaxToken { get; }

    /// <inheritdoc />
    public int[] SampleInput(Rng rng) => DigitLists.Sample(rng);

    /// <inheritdoc />
    public int[] Output(int[] input, long sampleIndex) => Map(input);

    /// <summary>The output for an input list.</summary>
    public abstract int[] Map(int[] input);
}

/// <summary>↑: sort ascending.</summary>
public sealed class AscendingTask : DigitListTask
{
    /// <inheritdoc />
    public override string Name => "ascending";

    /// <inheritdoc />
    public override string Description => "sort the list ascending (↑)";

    /// <inheritdoc />
    public override int MaxToken => DigitLists.MaxDigit;

    /// <inheritdoc />
    public override int[] Map(int[] input) => [.. input.Order()];
}

/// <summary>↓: sort descending.</summary>
public sealed class DescendingTask : DigitListTask
{
    /// <inheritdoc />
    public override string Name => "descending";

    /// <inheritdoc />
    public override string Description => "sort the list descending (↓)";

    /// <inheritdoc />
    public override int MaxToken => DigitLists.MaxDigit;

    /// <inheritdoc />
    public override int[] Map(int[] input) => [.. input.OrderDescending()];
}

/// <summary>+k: add a constant to each element.</summary>
public sealed class AddTask(int amount) : DigitListTask
{
    /// <inheritdoc />
    public override string Name => $"plus{amount}";

    /// <inheritdoc />
    public override string Description => $"add {amount} to each element (+{amount})";

    /// <inheritdoc />
    public override int MaxToken => DigitLists.MaxDigit + amount;

    /// <inheritdoc />
    public override int[] Map(int[] input) => [.. input.Select(x => x + amount)];
}

/// <summary>↑+1: sort ascending, then add 1 (a composition of two pretrained skills).</summary>
public sealed class AscendingPlusOneTask : DigitListTask
{
    /// <inheritdoc />
    public override string Name => "ascending-plus1";

    /// <inheritdoc />
    public override string Description => "sort ascending, then add 1 to each element (↑+1)";

    /// <inheritdoc />
    public override int MaxToken => DigitLists.MaxDigit + 1;

    /// <inheritdoc />
    public override int[] Map(int[] input) => [.. input.Order().Select(x => x + 1)];
}

/// <summary>H: replace each element by how many times it occurs in the list (needs a new attention pattern).</summary>
public sealed class HistogramTask : DigitListTask
{
    /// <inheritdoc />
    public override string Name => "histogram";

    /// <inheritdoc />
    public override string Description => "replace each element by its number of occurrences in the list (H)";

    /// <inheritdoc />
    public override int MaxToken => DigitLists.Length; // all ten equal gives 10

    /// <inheritdoc />
    public override int[] Map(int[] input) => [.. input.Select(x => input.Count(y => y == x))];
}

/// <summary>
/// The paper's pretraining mixture: sample <c>i</c> is answered by task <c>i mod n</c> with no marker of
/// which, so a model trained on it learns every skill and hedges between them.
/// </summary>
public sealed class MixtureTask(string name, IReadOnlyList<ITask> tasks) : ITask
{
    /// <inheritdoc />
    public string Name => name;

    /// <inheritdoc />
    public string Description => $"by sample index, one of {string.Join(", ", tasks.Select(t => t.Name))}, unmarked";

    /// <inheritdoc />
    public int InputLength => tasks[0].InputLength;

    /// <inheritdoc />
    public int OutputLength => tasks[0].OutputLength;

    /// <inheritdoc />
    public int MaxToken => tasks.Max(t => t.MaxToken);

    /// <summary>The tasks mixed, in index order.</summary>
    public IReadOnlyList<ITask> Tasks => tasks;

    /// <inheritdoc />
    public int[] SampleInput(Rng rng) => tasks[0].SampleInput(rng);

    /// <inheritdoc />
    public int[] Output(int[] input, long sampleIndex) => tasks[(int)(sampleIndex % tasks.Count)].Output(input, sampleIndex);
}
