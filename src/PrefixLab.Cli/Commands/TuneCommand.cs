using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class TuneCommand : ICommand
{
    public string Name => "tune";

    public string Summary => "adapt a model to a task with a tuning method and save the adapter";

    public string Usage => """
        prefixlab tune --model FILE|DIR --method M (--task T | --data FILE) --iters N --out FILE [options]
          --model FILE|DIR    a PrefixLab model file or a Hugging Face GPT-2 directory
          --method M          hard-prompt, soft-prompt, prefix, prefix-kv, lora, full
          --lr X              default: the paper's per method (prefix, soft prompt 5e-5; LoRA 5e-3; full 5e-4)
          --weight-decay X    default: 0.01 (PyTorch's AdamW default), full: 0.1 on Linear weights
          --prefix-size P     virtual tokens / prefix vectors (default: the model's padding positions)
          --rank r            LoRA rank (default 1)
          --alpha a           LoRA alpha; the update is scaled by alpha / r (default r)
          --targets a,b       LoRA: Linear layers whose names contain these (default c_fc,c_proj)
          --tokens "3 3 3"    hard-prompt tokens, one per prefix position
          --projection H      prefix-kv: train through an MLP of width H (folded when saved)
          --init-std X        std of the initial prefix / soft-prompt vectors (default 1, the paper's N(0, 1))
          --batch N, --seed S, --checkpoint-every N, --resume, --log-every N, --eval-samples N, --eval-every N,
          --keep-best, --log-dir DIR, --no-tensorboard
                              as for pretrain (--keep-best with --data: needs a validation split)
          --format peft       save a lora or prefix-kv adapter as a PEFT directory (adapter_config.json,
                              adapter_model.safetensors) at --out
        """ + "\n" + TaskSource.Usage + "\n" + """
        Context methods and LoRA save only their own tensors; full saves a model.
        """;

    public int Run(Arguments args)
    {
        string modelPath = args.Required("model");
        string methodName = args.Required("method");
        var task = TaskSource.Read(args, modelPath);
        string output = args.Required("out");
        bool peft = args.Choice("format", ("prefixlab", false), ("peft", true));
        var (model, info) = ModelFile.Load(modelPath);
        using var _ = model;
        var settings = MethodSettings.Read(args, info.PrefixSize);
        ulong seed = args.Seed("seed", 1);
        int iterations = args.Int("iters", methodName == "hard-prompt" ? 0 : 10_000, 0);
        var lrText = args.Optional("lr");
        var wdText = args.Optional("weight-decay");
        int batch = args.Int("batch", 64, 1);
        int checkpointEvery = args.Int("checkpoint-every", 1000, 0);
        bool resume = args.Flag("resume");
        int logEvery = args.Int("log-every", 100, 1);
        int evalSamples = args.Int("eval-samples", 0, 0);
        int evalEvery = args.Int("eval-every", 0, 0);
        bool keepBest = args.Flag("keep-best");
        string? tensorBoard = RunFiles.TensorBoard(args, output);
        args.EnsureAllUsed();
        PrefixLabException.Check(!keepBest || task.HasValidation, "--keep-best needs a validation split: a digit task (--task) or --data with a validation split");

        string baseFingerprint = AdapterFile.Fingerprint(model);
        using var method = TuningMethods.Create(methodName, model, settings, seed);
        // Prompts and the paper's prefix take the place of the padding, so the inputs carry as many pads.
        int layoutPrefix = method.PaddingRows ?? info.PrefixSize;
        var options = new TrainOptions
        {
            Iterations = iterations,
            LearningRate = lrText is null ? Math.Max(method.DefaultLearningRate, 1e-12) : args.Double("lr", 0, 0),
            BatchSize = batch,
            Seed = seed,
            CheckpointEvery = checkpointEvery,
            CheckpointPath = RunFiles.Checkpoint(output),
            Resume = resume,
            LogPath = RunFiles.Log(output),
            LogEvery = logEvery,
            TensorBoardDir = tensorBoard,
            EvalEvery = evalEvery,
            KeepBest = keepBest,
        }.Validate();
        double weightDecay = wdText is null ? method.DefaultWeightDecay : args.Double("weight-decay", 0, 0);
        Console.WriteLine($"tune {method.Name} on {task.Name}: {method.ParameterCount:N0} trainable parameters, lr {options.LearningRate:G3}, weight decay {weightDecay:G3}");

        long steps = 0;
        if (iterations > 0)
        {
            var job = task.Job(model, method, layoutPrefix, options, weightDecay, baseFingerprint);
            int? periodicSamples = evalSamples > 0 ? evalSamples : null;
            var result = Trainer.Run(job, options, new ProgressPrinter("tune").Report,
                () => task.Evaluate(model, layoutPrefix, periodicSamples, 0, 64),
                () => task.Evaluate(model, layoutPrefix, periodicSamples, 0, 64, DataSplit.Validation));
            RunFiles.ReportKept(result);
            steps = result.WeightsStep;
            Console.WriteLine($"trained {result.Steps} steps (loss {result.FinalLoss:F4}, {result.Elapsed.TotalSeconds:F0} s)");
        }
        if (peft)
        {
            PeftFormat.Save(output, method, model, modelPath);
        }
        else if (method.TrainsBase)
        {
            ModelFile.Save(output, model, info with { Task = task.Name, Steps = steps, Seed = seed });
        }
        else
        {
            var saved = settings with { ProjectionHidden = null }; // the file holds folded keys and values
            AdapterFile.Save(output, method, new AdapterInfo(method.Name, saved, baseFingerprint, layoutPrefix, task.Name, steps));
        }
        Console.WriteLine($"saved {output}");
        if (evalSamples > 0)
        {
            var eval = task.Evaluate(model, layoutPrefix, evalSamples, 0, 64);
            Console.WriteLine($"{eval.Task}: {eval.Accuracy:P2} ({eval.Correct}/{eval.Samples})");
        }
        return 0;
    }
}
