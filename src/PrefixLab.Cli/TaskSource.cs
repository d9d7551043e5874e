using System.CommandLine;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Workflows;

namespace PrefixLab.Cli;

/// <summary>
/// What <c>tune</c> and <c>eval</c> train or score on: a digit task by name (<c>--task</c>) or a text
/// task from the user's file (<c>--data</c>, tokenised with the checkpoint's tokenizer: <see cref="Tokenizers.Load"/>). Both go
/// to the one training loop and an exact-match evaluation.
/// </summary>
internal sealed class TaskSource
{
    private readonly (string Flag, string Path)[] files;

    private TaskSource(TaskData data, params (string, string)[] files)
    {
        Data = data;
        this.files = files;
    }

    /// <summary>The task as the workflows take it.</summary>
    public TaskData Data { get; }

    public string Name => Data.Name;

    public bool HasValidation => Data.HasValidation;

    /// <summary>
    /// The digit task of <c>--task</c>, or the text task of <c>--data</c> with the tokenizer of
    /// <c>--tokenizer</c> or of <paramref name="modelPath"/>'s directory.
    /// </summary>
    public static TaskSource Of(ITask? task, string? data, string? tokenizerDir, string labelName, string[]? labelNames, string modelPath)
    {
        PrefixLabException.Check((data is null) != (task is null), "give either --task NAME or --data FILE");
        PrefixLabException.Check(labelNames is null || data is not null, "--label-names goes with --data FILE");
        if (task is not null)
        {
            return new TaskSource(TaskData.Of(task));
        }
        string dir = tokenizerDir ?? modelPath;
        PrefixLabException.Check(tokenizerDir is not null || Directory.Exists(modelPath),
            $"--data needs a tokenizer: '{modelPath}' is not a folder; name a tokenizer folder with --tokenizer DIR");
        var tokenizer = Tokenizers.Load(dir);
        return new TaskSource(TaskData.Of(TextTask.Load(data!, labelName, labelNames), tokenizer), ("--data", data!), ("--tokenizer", dir)) { Tokenizer = tokenizer };
    }

    /// <summary>The tokenizer of a text task (<c>--data</c>), null for a digit task.</summary>
    public ITokenizer? Tokenizer { get; private init; }

    /// <summary>Refuses a text task's tokenizer that makes ids <paramref name="model"/> has no embedding for.</summary>
    public void CheckFits(ILanguageModel model) => Tokenizer?.CheckFits(model.Shape.VocabSize);

    /// <summary>Adds the files the task is read from to the inputs no output may overwrite.</summary>
    public OutputPlan AddInputsTo(OutputPlan plan)
    {
        foreach (var (flag, path) in files)
        {
            plan.Input(flag, path);
        }
        return plan;
    }

    /// <summary>
    /// Positions one training sequence takes with <paramref name="paddingRows"/> in front (text tasks:
    /// at least the padding and two tokens), after checking a digit task fits the model's positions.
    /// </summary>
    public int Positions(ILanguageModel model, int paddingRows)
    {
        if (Data.Digits is not { } digits)
        {
            return paddingRows + 2;
        }
        var layout = SequenceLayout.For(digits, paddingRows);
        PrefixLabException.Check(layout.ContextLength <= model.Shape.Positions,
            $"option --prefix-size: task '{digits.Name}' with {paddingRows} prefix positions needs {layout.ContextLength} positions, the model has {model.Shape.Positions}");
        return layout.ContextLength;
    }
}

/// <summary>The options that choose what <c>tune</c> and <c>eval</c> train or score on (<see cref="TaskSource"/>).</summary>
internal sealed class TaskSourceOptions : IOptionGroup
{
    private readonly Option<ITask?> task = Opt.Parsed("--task", "T", $"a digit task: {string.Join(", ", TaskRegistry.Default.Names)} (or --data)", TaskRegistry.Default.Get);
    private readonly Option<string?> data = Opt.Text("--data", "FILE|DIR",
        "a text task: JSON lines, CSV or Parquet with text and label (\"TEXT: … EMOTION: label\"); a folder: its .parquet files (or data/*.parquet), "
        + "split by file name (train-*, validation-*, test-*); integer labels named by the dataset's ClassLabel");
    private readonly Option<string[]> labelNames = Opt.List("--label-names", "A,B", "with --data: names of integer labels 0, 1, … (overrides the dataset's own)", "label", keepBlanks: true);
    private readonly Option<string?> tokenizer = Opt.Text("--tokenizer", "DIR", "with --data: where tokenizer.json (or vocab.json and merges.txt) is", defaultText: "the model directory");
    private readonly Option<string> labelName = Opt.TextOr("--label-name", "WORD", "with --data: the word before the label", "EMOTION");

    public IEnumerable<Option> Options => [task, data, labelNames, tokenizer, labelName];

    public TaskSource Read(ParseResult parse, string modelPath) =>
        TaskSource.Of(parse.GetValue(task), parse.GetValue(data), parse.GetValue(tokenizer), parse.GetRequiredValue(labelName),
            parse.GetValue(labelNames) is { Length: > 0 } names ? names : null, modelPath);
}
