using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class PretrainCommand : ICommand
{
    public string Name => "pretrain";

    public string Summary => "train a fresh model on a task and save it";

    public string Usage => """
        prefixlab pretrain --task T --out FILE [options]
          --task T              ascending, descending, plus1, plus2, ascending-plus1, histogram, random
          --out FILE            model file to write (safetensors); FILE.ckpt.safetensors and FILE.log.jsonl
                                go beside it. None of them may be an existing device, pipe or folder.
          --layers N            blocks, 1-256 (default 1)
          --heads N             attention heads, 1-1024, dividing --width (default 1)
          --width N             embedding width, 1-16384 (default 96)
          --prefix-size P       padding positions in front of each input, 0-1024 (default 1)
          --no-attn-layernorm   no LayerNorm before attention (notebook 02)
          --dropout X           dropout, 0-0.99 (default 0.1)
          --iters N             steps, 1-100000000 (default 20000)
          --lr X                learning rate, more than 0 and at most 10 (default 5e-4)
          --weight-decay X      on Linear weights, 0-10 (default 0.1)
          --batch N             batch size, 1-65536 and what memory holds (default 64)
          --seed S              seed of initialisation, batches and dropout, 0 or more (default 1)
          --checkpoint-every N  checkpoint to FILE.ckpt.safetensors every N steps (default 1000; 0: at the end only)
          --resume              continue from that checkpoint (the log is cut back to its step)
          --log-every N         JSON-lines log FILE.log.jsonl every N steps, 1 or more (default 100)
          --log-dir DIR         TensorBoard event files of the same numbers in DIR (default FILE.tb/)
          --no-tensorboard      no event files
          --eval-samples N      after training, evaluate on N test samples of the task, 0-1000000 (default 0: skip)
          --eval-every N        also evaluate every N steps (a positive multiple of --log-every; leave it out
                                for none), on --eval-samples samples (3200 if not given): shown with the
                                progress and in the log
          --keep-best           hold the validation split (1 in 20 training inputs) out of training, score
                                it at every --eval-every and save the weights that scored best there
        Every option is checked before the first step; a bad one ends the command with one line and exit code 2.
        """;

    public int Run(Arguments args)
    {
        var task = TaskRegistry.Default.Get(args.Required("task"));
        string output = args.Required("out");
        int prefixSize = args.Int("prefix-size", 1, 0, 1024);
        ulong seed = args.Seed("seed", 1);
        var layout = SequenceLayout.For(task, prefixSize);
        var config = new GptConfig(
            VocabSize: args.Int("vocab", DefaultVocab, task.MaxToken + 1, 1_000_000),
            BlockSize: layout.ContextLength,
            Layers: args.Int("layers", 1, 1, 256),
            Heads: args.Int("heads", 1, 1, 1024),
            Width: args.Int("width", 96, 1, 16_384),
            Dropout: args.Double("dropout", 0.1, 0, 0.99),
            AttnLayerNorm: !args.Flag("no-attn-layernorm"));
        PrefixLabException.Check(config.Width % config.Heads == 0, $"option --width {config.Width} must be a multiple of --heads {config.Heads}");
        config.Validate();
        string? tensorBoard = RunFiles.TensorBoard(args, output);
        var options = new TrainOptions
        {
            Iterations = args.Int("iters", 20_000, 1, Ranges.MaxSteps),
            LearningRate = args.Double("lr", 5e-4, 0, Ranges.MaxLearningRate, aboveMin: true),
            BatchSize = args.Int("batch", 64, 1, Ranges.MaxBatch),
            Seed = seed,
            CheckpointEvery = args.Int("checkpoint-every", 1000, 0, Ranges.MaxSteps),
            CheckpointPath = RunFiles.Checkpoint(output),
            Resume = args.Flag("resume"),
            LogPath = RunFiles.Log(output),
            LogEvery = args.Int("log-every", 100, 1, Ranges.MaxSteps),
            EvalEvery = args.IntIfGiven("eval-every", 1, Ranges.MaxSteps) ?? 0,
            TensorBoardDir = tensorBoard,
            KeepBest = args.Flag("keep-best"),
        }.Validate();
        double weightDecay = args.Double("weight-decay", 0.1, 0, Ranges.MaxWeightDecay);
        int evalSamples = args.Int("eval-samples", 0, 0, Ranges.MaxSamples);
        args.EnsureAllUsed();
        RunFiles.AddTo(new OutputPlan().File("--out", output), "--out", output, tensorBoard).Check();
        Ranges.CheckTrainingMemory(config, options.BatchSize, layout.ContextLength);

        var result = PretrainWorkflow.Run(
            new PretrainRequest(config, task, prefixSize, options, output)
            {
                WeightDecay = weightDecay,
                EvalSamples = evalSamples > 0 ? evalSamples : null,
                FinalEvalSamples = evalSamples,
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

    /// <summary>Digits 0..9 and the histogram's 10: one vocabulary for every built-in task.</summary>
    private static int DefaultVocab => TaskRegistry.Default.Names.Max(n => TaskRegistry.Default.Get(n).MaxToken) + 1;
}
