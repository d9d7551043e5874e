using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Tasks;

/// <summary>One text example as token ids: the prompt and the answer the model must generate.</summary>
/// <param name="Prompt">Ids of <see cref="TextTask.Prompt"/>.</param>
/// <param name="Answer">Ids of <see cref="TextTask.Answer"/>.</param>
public sealed record TextSample(int[] Prompt, int[] Answer);

/// <summary>
/// A <see cref="TextTask"/> tokenised and split, with its training batches. Sequences differ in length,
/// so a batch is padded on the right: with causal attention no position sees the padding after it, and
/// the padded targets are ignored, so padding changes nothing. <see cref="PaddingRows"/> padding tokens
/// go in front of every prompt, as in <see cref="SequenceLayout"/>, for methods that take their place.
/// </summary>
public sealed class TextSamples
{
    private TextSamples(TextTask task, int paddingRows, IReadOnlyList<TextSample> train, IReadOnlyList<TextSample> test, IReadOnlyList<TextSample> validation)
    {
        Task = task;
        PaddingRows = paddingRows;
        Train = train;
        Test = test;
        Validation = validation;
    }

    /// <summary>The task.</summary>
    public TextTask Task { get; }

    /// <summary>Padding positions in front of each prompt.</summary>
    public int PaddingRows { get; }

    /// <summary>Training examples.</summary>
    public IReadOnlyList<TextSample> Train { get; }

    /// <summary>Test examples.</summary>
    public IReadOnlyList<TextSample> Test { get; }

    /// <summary>Validation examples: those the file puts in a <c>validation</c> split (never drawn for training).</summary>
    public IReadOnlyList<TextSample> Validation { get; }

    /// <summary>Every example: training, test, then validation.</summary>
    public IEnumerable<TextSample> All => Train.Concat(Test).Concat(Validation);

    /// <summary>The examples of <paramref name="split"/>.</summary>
    public IReadOnlyList<TextSample> Of(DataSplit split) => split switch
    {
        DataSplit.Train => Train,
        DataSplit.Test => Test,
        _ => Validation,
    };

    /// <summary>Positions of the longest sequence the model reads (padding, prompt, answer but its last token).</summary>
    public int LongestContext => PaddingRows + All.Max(s => s.Prompt.Length + s.Answer.Length) - 1;

    /// <summary>
    /// Tokenises <paramref name="task"/> with <paramref name="encode"/>, the answers with
    /// <paramref name="encodeAnswer"/> (prompt text, answer text → the answer's ids after the prompt's) when
    /// given. An example goes to the split its file names, otherwise to the one a hash of its prompt's ids
    /// picks (a quarter are test, the rest train).
    /// </summary>
    public static TextSamples Encode(TextTask task, Func<string, int[]> encode, int paddingRows, Func<string, string, int[]>? encodeAnswer = null)
    {
        encodeAnswer ??= (_, answer) => encode(answer);
        PrefixLabException.Check(paddingRows >= 0, $"padding rows must be 0 or more (got {paddingRows})");
        var splits = new Dictionary<DataSplit, List<TextSample>> { [DataSplit.Train] = [], [DataSplit.Test] = [], [DataSplit.Validation] = [] };
        foreach (var example in task.Examples)
        {
            string prompt = task.Prompt(example.Text);
            var sample = new TextSample(encode(prompt), encodeAnswer(prompt, TextTask.Answer(example.Label)));
            PrefixLabException.Check(sample.Answer.Length > 0, $"label '{example.Label}' has no tokens");
            splits[example.Split ?? Splits.Of(sample.Prompt)].Add(sample);
        }
        return new TextSamples(task, paddingRows, splits[DataSplit.Train], splits[DataSplit.Test], splits[DataSplit.Validation]);
    }

    /// <summary>
    /// A training batch of <paramref name="batchSize"/> examples drawn uniformly from the training split
    /// with <paramref name="rng"/>: <c>Inputs</c> and <c>Targets</c> <c>[batch, longest − 1]</c>, the
    /// targets <see cref="SequenceLayout.IgnoreIndex"/> everywhere but at the answer's predictions.
    /// </summary>
    public (Tensor Inputs, Tensor Targets) TrainingBatch(int batchSize, Rng rng)
    {
        PrefixLabException.Check(Train.Count > 0, $"text task '{Task.Name}' has no training examples");
        var chosen = Enumerable.Range(0, batchSize).Select(_ => Train[rng.Next(Train.Count)]).ToList();
        int width = chosen.Max(s => PaddingRows + s.Prompt.Length + s.Answer.Length) - 1;
        var inputs = new long[batchSize * width];
        var targets = new long[batchSize * width];
        Array.Fill(targets, SequenceLayout.IgnoreIndex);
        for (int b = 0; b < batchSize; b++)
        {
            long[] sequence = [.. Enumerable.Repeat((long)SequenceLayout.PadToken, PaddingRows), .. chosen[b].Prompt.Select(i => (long)i), .. chosen[b].Answer.Select(i => (long)i)];
            int answerFrom = PaddingRows + chosen[b].Prompt.Length;
            for (int t = 0; t < sequence.Length - 1; t++)
            {
                inputs[(b * width) + t] = sequence[t];
                if (t + 1 >= answerFrom)
                {
                    targets[(b * width) + t] = sequence[t + 1]; // position t predicts token t + 1
                }
            }
        }
        return (tensor(inputs, [batchSize, width]), tensor(targets, [batchSize, width]));
    }

    /// <summary>Prompts <c>[count, PaddingRows + length]</c> of samples whose prompts all have the same length.</summary>
    public Tensor Prompts(IReadOnlyList<TextSample> samples)
    {
        int length = samples[0].Prompt.Length;
        PrefixLabException.Check(samples.All(s => s.Prompt.Length == length), "prompts of one batch must have one length");
        var data = new long[samples.Count * (PaddingRows + length)];
        for (int b = 0; b < samples.Count; b++)
        {
            for (int t = 0; t < length; t++)
            {
                data[(b * (PaddingRows + length)) + PaddingRows + t] = samples[b].Prompt[t];
            }
        }
        return tensor(data, [samples.Count, PaddingRows + length]);
    }
}
