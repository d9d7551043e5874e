using System.CommandLine;
using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class PretrainCommand : CliCommand
{
    private readonly Option<ITask?> taskOption = Opt.Parsed("--task", "T", $"the task: {string.Join(", ", TaskRegistry.Default.Names)}", TaskRegistry.Default.Get, required: true);
    private readonly Option<string> outOption = Opt.Required("--out", "FILE",
        "model file to write (safetensors); FILE.ckpt.safetensors and FILE.log.jsonl go beside it. None of them may be an existing device, pipe or folder.");
    private readonly Option<int> vocabOption = Opt.Int("--vocab", "vocabulary size, at least the task's largest token + 1", DefaultVocab, 1, 1_000_000, "V");
    private readonly Option<int> layersOption = Opt.Int("--layers", "blocks", 1, 1, 256);
    private readonly Option<int> headsOption = Opt.Int("--heads", "attention heads, dividing --width", 1, 1, 1024);
    private readonly Option<int> widthOption = Opt.Int("--width", "embedding width", 96, 1, 16_384);
    private readonly Option<int> prefixSizeOption = Opt.Int("--prefix-size", "padding positions in front of each input", 1, 0, 1024, "P");
    private readonly Option<bool> noAttnLayerNormOption = Opt.Flag("--no-attn-layernorm", "no LayerNorm before attention (notebook 02)");
    private readonly Option<double> dropoutOption = Opt.Double("--dropout", "dropout", 0.1, 0, 0.99);
    private readonly Option<int> itersOption = Opt.Int("--iters", "training steps", 20_000, 1, Ranges.MaxSteps);
    private readonly Option<double> lrOption = Opt.Double("--lr", "learning rate", 5e-4, 0, Ranges.MaxLearningRate, aboveMin: true);
    private readonly Option<double> weightDecayOption = Opt.Double("--weight-decay", "AdamW weight decay on Linear weights", 0.1, 0, Ranges.MaxWeightDecay);
    private readonly TrainingOptions training = new();

    public PretrainCommand()
        : base("pretrain", "train a fresh model on a task and save it",
            "Every option is checked before the first step; a bad one ends the command with one line and exit code 2.")
    {
        Declare([taskOption, outOption, vocabOption, layersOption, headsOption, widthOption, prefixSizeOption, noAttnLayerNormOption, dropoutOption, itersOption, lrOption, weightDecayOption, .. training.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        var task = parse.GetRequiredValue(taskOption)!;
        string output = parse.GetRequiredValue(outOption);
        int prefixSize = parse.GetValue(prefixSizeOption);
        var layout = SequenceLayout.For(task, prefixSize);
        int vocab = parse.GetValue(vocabOption);
        PrefixLabException.Check(vocab > task.MaxToken, $"option --vocab must be between {task.MaxToken + 1} and 1000000 (got {vocab}): task '{task.Name}' uses token {task.MaxToken}");
        var config = new GptConfig(
            VocabSize: vocab,
            BlockSize: layout.ContextLength,
            Layers: parse.GetValue(layersOption),
            Heads: parse.GetValue(headsOption),
            Width: parse.GetValue(widthOption),
            Dropout: parse.GetValue(dropoutOption),
            AttnLayerNorm: !parse.GetValue(noAttnLayerNormOption));
        PrefixLabException.Check(config.Width % config.Heads == 0, $"option --width {config.Width} must be a multiple of --heads {config.Heads}");
        config.Validate();
        var run = training.Read(parse, output);
        var options = run.For(parse.GetValue(itersOption), parse.GetValue(lrOption));
        double weightDecay = parse.GetValue(weightDecayOption);
        RunFiles.AddTo(new OutputPlan().File("--out", output), "--out", output, run.TensorBoard).Check();
        Ranges.CheckTrainingMemory(config.Shape, options.BatchSize, layout.ContextLength);

        var result = PretrainWorkflow.Run(
            new PretrainRequest(config, task, prefixSize, options, output)
            {
                WeightDecay = weightDecay,
                EvalSamples = run.EvalSamples > 0 ? run.EvalSamples : null,
                FinalEvalSamples = run.EvalSamples,
            },
            new ProgressPrinter("pretrain").Report);
        if (result.Training.ResumedFrom > 0)
        {
            Console.WriteLine($"resumed from step {result.Training.ResumedFrom}");
        }
        RunFiles.ReportKept(result.Training);
        Console.WriteLine($"saved {output} after {RunFiles.Describe(result.Training)}");
        if (result.Evaluation is { } eval)
        {
            Console.WriteLine($"{eval.Task}: {eval.Accuracy:P2} ({eval.Correct}/{eval.Samples})");
        }
        return 0;
    }

    /// <summary>Digits 0..9 and the histogram's 10: the vocabulary the digit tasks share (topic-bytes needs --vocab 256).</summary>
    private static int DefaultVocab => TaskRegistry.Default.SharedVocabulary;
}
