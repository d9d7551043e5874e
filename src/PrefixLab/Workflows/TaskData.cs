using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;

namespace PrefixLab.Workflows;

/// <summary>
/// What a workflow trains or scores on: a digit task, or labelled texts and the tokenizer that encodes
/// them. Both go to the one training loop and an exact-match evaluation.
/// </summary>
public sealed class TaskData
{
    private readonly ITask? digits;
    private readonly TextTask? text;
    private readonly Func<string, int[]>? encode;
    private readonly Func<string, string, int[]>? encodeAnswer;

    private TaskData(ITask? digits, TextTask? text, Func<string, int[]>? encode, Func<string, string, int[]>? encodeAnswer = null)
    {
        this.digits = digits;
        this.text = text;
        this.encode = encode;
        this.encodeAnswer = encodeAnswer;
    }

    /// <summary>The task's name.</summary>
    public string Name => digits?.Name ?? text!.Name;

    /// <summary>The digit task, or null for texts.</summary>
    public ITask? Digits => digits;

    /// <summary>Whether the task has a validation split to keep the best weights by (digit tasks do; texts when they name one).</summary>
    public bool HasValidation => digits is not null || text!.Examples.Any(e => e.Split == DataSplit.Validation);

    /// <summary>A digit task.</summary>
    public static TaskData Of(ITask task) => new(task, null, null);

    /// <summary>Labelled texts, prompts and answers each encoded by <paramref name="encode"/> alone.</summary>
    public static TaskData Of(TextTask task, Func<string, int[]> encode) => new(null, task, encode);

    /// <summary>
    /// Labelled texts, encoded by <paramref name="tokenizer"/> as Hugging Face's <c>tokenizer(prompt + answer)</c>
    /// would: the prompt with the BOS/EOS the tokenizer's config asks for (Llama's BOS, nothing for GPT-2),
    /// the answer as the ids that follow the prompt's in the whole text (<see cref="Tokenizers.EncodeContinuation"/>).
    /// </summary>
    public static TaskData Of(TextTask task, ITokenizer tokenizer) =>
        new(null, task, tokenizer.EncodeSequence, tokenizer.EncodeContinuation);

    /// <summary>The texts encoded behind <paramref name="paddingRows"/> padding rows (texts only).</summary>
    public TextSamples Samples(int paddingRows) =>
        text is null ? throw new InvalidOperationException($"task '{Name}' is a digit task, not texts") : TextSamples.Encode(text, encode!, paddingRows, encodeAnswer);

    /// <summary>The training job of <paramref name="method"/> on this task with <paramref name="paddingRows"/> in front of each input.</summary>
    public TrainingJob Job(ILanguageModel model, ITuningMethod method, int paddingRows, TrainOptions options, double weightDecay, string baseFingerprint) =>
        digits is not null
            ? MethodTraining.ForMethod(model, method, digits, SequenceLayout.For(digits, paddingRows), options, weightDecay, baseFingerprint)
            : MethodTraining.ForMethod(model, method, Samples(paddingRows), options, weightDecay, baseFingerprint);

    /// <summary>
    /// Scores the model on the test split (or another <paramref name="split"/>); <paramref name="samples"/>
    /// null means 3,200 digit samples or the whole text split.
    /// </summary>
    public EvalResult Evaluate(ILanguageModel model, int paddingRows, int? samples, ulong seed, int batch, DataSplit split = DataSplit.Test) =>
        digits is not null
            ? Evaluator.Evaluate(model, digits, paddingRows, samples ?? Evaluator.DefaultSamples, seed, batch, split)
            : TextEvaluator.Evaluate(model, Samples(paddingRows), samples, batch, split);
}
