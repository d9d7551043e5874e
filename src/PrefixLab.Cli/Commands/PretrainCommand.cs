using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class PretrainCommand : ICommand
{
    public string Name => "pretrain";

    public string Summary => "train a fresh model on a task and save it";

    public string Usage => """
        prefixlab pretrain --task T --out FILE [options]
          --task T              ascending, descending, plus1, plus2, ascending-plus1, histogram, random
          --out FILE            model file to write (safetensors)
          --layers N            blocks (default 1)
          --heads N             attention heads (default 1)
          --width N             embedding width (default 96)
          --prefix-size P       padding positions in front of each input (default 1)
          --no-attn-layernorm   no LayerNorm before attention (notebook 02)
          --dropout X           dropout (default 0.1)
          --iters N             steps (default 20000)
          --lr X                learning rate (default 5e-4)
          --weight-decay X      on Linear weights (default 0.1)
          --batch N             batch size (default 64)
          --seed S              seed of initialisation, batches and dropout (default 1)
          --checkpoint-every N  checkpoint to FILE.ckpt.safetensors every N steps (default 1000; 0: at the end only)
          --resume              continue from that checkpoint
          --log-every N         JSON-lines log FILE.log.jsonl every N steps (default 100)
          --log-dir DIR         TensorBoard event files of the same numbers in DIR (default FILE.tb/)
          --no-tensorboard      no event files
          --eval-samples N      after training, evaluate on N test samples of the task (default 0: skip)
          --eval-every N        also evaluate every N steps (a multiple of --log-every), on --eval-samples
                                samples (3200 if not given): shown with the progress and in the log
          --keep-best           hold the validation split (1 in 20 training inputs) out of training, score
                                it at every --eval-every and save the weights that scored best there
        """;

    public int Run(Arguments args)
    {
        var task = TaskRegistry.Default.Get(args.Required("task"));
        string output = args.Required("out");
        int prefixSize = args.Int("prefix-size", 1, 0, 4096);
        ulong seed = args.Seed("seed", 1);
        var layout = SequenceLayout.For(task, prefixSize);
        var config = new GptConfig(
            VocabSize: args.Int("vocab", DefaultVocab, 1, 1_000_000),
            BlockSize: layout.ContextLength,
            Layers: args.Int("layers", 1, 1, 1024),
            Heads: args.Int("heads", 1, 1, 1024),
            Width: args.Int("width", 96, 1, 1 << 16),
            Dropout: args.Double("dropout", 0.1, 0, 0.99),
            AttnLayerNorm: !args.Flag("no-attn-layernorm")).Validate();
        string? tensorBoard = RunFiles.TensorBoard(args, output);
        var options = new TrainOptions
        {
            Iterations = args.Int("iters", 20_000, 0),
            LearningRate = args.Double("lr", 5e-4, 0),
            BatchSize = args.Int("batch", 64, 1),
            Seed = seed,
            CheckpointEvery = args.Int("checkpoint-every", 1000, 0),
            CheckpointPath = RunFiles.Checkpoint(output),
            Resume = args.Flag("resume"),
            LogPath = RunFiles.Log(output),
            LogEvery = args.Int("log-every", 100, 1),
            TensorBoardDir = tensorBoard,
            EvalEvery = args.Int("eval-every", 0, 0),
            KeepBest = args.Flag("keep-best"),
        }.Validate();
        double weightDecay = args.Double("weight-decay", 0.1, 0);
        int evalSamples = args.Int("eval-samples", 0, 0);
        args.EnsureAllUsed();

        using var model = new Gpt(config, (long)(seed >> 1));
        var job = TaskTraining.Full(model, task, layout, options, weightDecay);
        Console.WriteLine($"pretrain {task.Name}: {config.Layers} layer(s), {config.Heads} head(s), width {config.Width}, P = {prefixSize}, {model.parameters().Sum(p => p.numel()):N0} parameters");
        int periodicSamples = evalSamples > 0 ? evalSamples : Evaluator.DefaultSamples;
        var result = Trainer.Run(job, options, new ProgressPrinter("pretrain").Report,
            () => Evaluator.Evaluate(model, task, prefixSize, periodicSamples),
            () => Evaluator.Evaluate(model, task, prefixSize, periodicSamples, split: DataSplit.Validation));
        if (result.ResumedFrom > 0)
        {
            Console.WriteLine($"resumed from step {result.ResumedFrom}");
        }
        RunFiles.ReportKept(result);
        ModelFile.Save(output, model, new ModelInfo(config, prefixSize, task.Name, result.WeightsStep, seed));
        Console.WriteLine($"saved {output} after {result.Steps} steps (loss {result.FinalLoss:F4}, {result.Elapsed.TotalSeconds:F0} s)");
        if (evalSamples > 0)
        {
            var eval = Evaluator.Evaluate(model, task, prefixSize, evalSamples);
            Console.WriteLine($"{eval.Task}: {eval.Accuracy:P2} ({eval.Correct}/{eval.Samples})");
        }
        return 0;
    }

    /// <summary>Digits 0..9 and the histogram's 10: one vocabulary for every built-in task.</summary>
    private static int DefaultVocab => TaskRegistry.Default.Names.Max(n => TaskRegistry.Default.Get(n).MaxToken) + 1;
}
