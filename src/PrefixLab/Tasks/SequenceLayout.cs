using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Tasks;

/// <summary>
/// How a sample is laid out for the model, as in the companion code: <c>[P padding][input][output]</c>.
/// The model reads the sequence without its last token and predicts it shifted by one; only the
/// predictions of the output tokens count.
/// </summary>
/// <param name="PrefixSize">P: padding positions at the front, where prefixes and prompts go.</param>
/// <param name="InputLength">Tokens of the input.</param>
/// <param name="OutputLength">Tokens of the output.</param>
public sealed record SequenceLayout(int PrefixSize, int InputLength, int OutputLength)
{
    /// <summary>The padding token (id 0, as in the companion code).</summary>
    public const int PadToken = 0;

    /// <summary>Target value that the loss ignores.</summary>
    public const int IgnoreIndex = -1;

    /// <summary>The layout of <paramref name="task"/> with <paramref name="prefixSize"/> padding positions.</summary>
    public static SequenceLayout For(ITask task, int prefixSize)
    {
        if (prefixSize < 0)
        {
            throw new PrefixLabException($"prefix size must be 0 or more (got {prefixSize})");
        }
        return new SequenceLayout(prefixSize, task.InputLength, task.OutputLength);
    }

    /// <summary>Positions the model reads during training: the whole sequence but its last token.</summary>
    public int ContextLength => PrefixSize + InputLength + OutputLength - 1;

    /// <summary>Positions of the prompt that generation continues: padding and input.</summary>
    public int PromptLength => PrefixSize + InputLength;

    /// <summary>
    /// A training batch: <c>Inputs</c> and <c>Targets</c> are <c>[batch, ContextLength]</c> token ids, the
    /// targets <see cref="IgnoreIndex"/> everywhere but at the output predictions. Sample <c>i</c> of the
    /// batch has index <paramref name="firstIndex"/> + i in its stream; with
    /// <paramref name="holdOutValidation"/>, no input of the validation split is drawn.
    /// </summary>
    public (Tensor Inputs, Tensor Targets) TrainingBatch(ITask task, int batchSize, DataSplit split, Rng rng, long firstIndex, bool holdOutValidation = false)
    {
        int width = ContextLength;
        var inputs = new long[batchSize * width];
        var targets = new long[batchSize * width];
        var sequence = new long[width + 1];
        for (int b = 0; b < batchSize; b++)
        {
            var input = Splits.SampleInput(task, split, rng, holdOutValidation);
            var output = task.Output(input, firstIndex + b);
            Fill(sequence, input, output);
            int row = b * width;
            for (int t = 0; t < width; t++)
            {
                inputs[row + t] = sequence[t];
                // Position t predicts token t + 1; only the output tokens are scored.
                targets[row + t] = t + 1 >= PromptLength ? sequence[t + 1] : IgnoreIndex;
            }
        }
        return (tensor(inputs, [batchSize, width]), tensor(targets, [batchSize, width]));
    }

    /// <summary>Prompts <c>[batch, PromptLength]</c> for the given input lists.</summary>
    public Tensor Prompts(IReadOnlyList<int[]> inputs)
    {
        var data = new long[inputs.Count * PromptLength];
        for (int b = 0; b < inputs.Count; b++)
        {
            if (inputs[b].Length != InputLength)
            {
                throw new PrefixLabException($"input has {inputs[b].Length} tokens, the task takes {InputLength}");
            }
            for (int t = 0; t < InputLength; t++)
            {
                data[(b * PromptLength) + PrefixSize + t] = inputs[b][t];
            }
        }
        return tensor(data, [inputs.Count, PromptLength]);
    }

    private void Fill(long[] sequence, int[] input, int[] output)
    {
        Array.Fill(sequence, PadToken, 0, PrefixSize);
        for (int i = 0; i < InputLength; i++)
        {
            sequence[PrefixSize + i] = input[i];
        }
        for (int i = 0; i < OutputLength; i++)
        {
            sequence[PromptLength + i] = output[i];
        }
    }
}
