using PrefixLab.Util;

namespace PrefixLab.Tasks;

/// <summary>
/// A sequence-to-sequence task on token lists: how inputs are drawn and what the right output is. The
/// model sees <c>[P padding tokens][input][output]</c> and is scored on the output tokens only. Implement
/// this (or derive from <see cref="DigitListTask"/>) and register it in <see cref="TaskRegistry"/> to
/// train and evaluate on a new task; nothing else needs to change.
/// </summary>
public interface ITask
{
    /// <summary>The name the registry and the command line know the task by.</summary>
    string Name { get; }

    /// <summary>One line saying what the task asks for.</summary>
    string Description { get; }

    /// <summary>Tokens in an input.</summary>
    int InputLength { get; }

    /// <summary>Tokens in an output.</summary>
    int OutputLength { get; }

    /// <summary>The largest token id an input or output can hold; the model's vocabulary must exceed it.</summary>
    int MaxToken { get; }

    /// <summary>Draws one input list.</summary>
    int[] SampleInput(Rng rng);

    /// <summary>
    /// The correct output for <paramref name="input"/>. <paramref name="sampleIndex"/> is the sample's
    /// position in its stream; only mixtures such as <c>random</c> use it.
    /// </summary>
    int[] Output(int[] input, long sampleIndex);
}
