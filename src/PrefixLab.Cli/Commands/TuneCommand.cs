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

    public string Usage => $"""
        prefixlab tune --model FILE|DIR --method M (--task T | --data FILE) --iters N --out FILE [options]
          --model FILE|DIR    a PrefixLab model file or a Hugging Face GPT-2 directory
          --method M          {MethodSettings.MethodNames}
          --iters N           steps, 1-100000000: required for every method but hard-prompt, which trains nothing
          --out FILE          the adapter (or model, for full) to write; FILE.ckpt.safetensors and FILE.log.jsonl
                              go beside it. None may be an input or an existing device, pipe or folder.
          --lr X              more than 0 and at most 10; default: the method's own (the paper's: prefix, soft
                              prompt 5e-5; LoRA 5e-3; full 5e-4)
          --weight-decay X    0-10; default: the method's own (0.01, PyTorch's AdamW default; full: 0.1 on
                              Linear weights)
        """ + "\n" + MethodSettings.Usage + "\n" + """
          --batch N, --seed S, --checkpoint-every N, --resume, --log-every N, --eval-samples N, --eval-every N,
          --keep-best, --log-dir DIR, --no-tensorboard
                              as for pretrain (--keep-best with --data: needs a validation split)
          --format peft       save a {string.Join(", ", PeftFormat.SavableMethods)} adapter as a PEFT directory
                              (adapter_config.json, adapter_model.safetensors) at --out; the config names
                              the base model as --model is typed
          --format hf         full on a Hugging Face GPT-2: save the model as a new Hugging Face folder at --out
                              (config.json, model.safetensors, the tokenizer files), which transformers loads
        """ + "\n" + LoadFlags.Usage + "\n" + TaskSource.Usage + "\n" + """
        Adapters hold only the method's own tensors; full saves a model. Every option, output
        and format is checked before the first step.
        """;

    public int Run(Arguments args)
    {
        string modelPath = args.Required("model");
        string methodName = args.Required("method");
        string output = args.Required("out");
        var format = args.Choice("format", ("prefixlab", SaveFormat.PrefixLab), ("peft", SaveFormat.Peft), ("hf", SaveFormat.HuggingFace));
        CheckFormat(format, modelPath, methodName, output);
        var task = TaskSource.Read(args, modelPath);
        var (model, info) = ModelFile.Load(modelPath, LoadFlags.Read(args));
        using var _ = model;
        var settings = MethodSettings.Read(args, model, info.PrefixSize);
        ulong seed = args.Seed("seed", 1);
        var lrText = args.Optional("lr");
        var wdText = args.Optional("weight-decay");
        int batch = args.Int("batch", 64, 1, Ranges.MaxBatch);
        int checkpointEvery = args.Int("checkpoint-every", 1000, 0, Ranges.MaxSteps);
        bool resume = args.Flag("resume");
        int logEvery = args.Int("log-every", 100, 1, Ranges.MaxSteps);
        int evalSamples = args.Int("eval-samples", 0, 0, Ranges.MaxSamples);
        int evalEvery = args.IntIfGiven("eval-every", 1, Ranges.MaxSteps) ?? 0;
        bool keepBest = args.Flag("keep-best");
        string? tensorBoard = RunFiles.TensorBoard(args, output);
        PrefixLabException.Check(!keepBest || task.HasValidation, "--keep-best needs a validation split: a digit task (--task) or --data with a validation split");
        var plan = format switch
        {
            SaveFormat.Peft => new OutputPlan().Directory("--out", output, PeftFormat.WeightsFile, PeftFormat.ConfigFile),
            SaveFormat.HuggingFace => new OutputPlan().Directory("--out", output),
            _ => new OutputPlan().File("--out", output),
        };
        task.AddInputsTo(RunFiles.AddTo(plan, "--out", output, tensorBoard).Input("--model", modelPath)).Check();

        string baseFingerprint = AdapterFile.Fingerprint(model);
        using var method = TuningMethods.Create(methodName, model, settings, seed);
        // A method with nothing to train (hard-prompt) takes no steps; every other one needs --iters.
        bool trains = method.Parameters.Count > 0;
        PrefixLabException.Check(trains || !args.Has("iters"), $"option --iters: {method.Name} trains nothing, leave --iters out");
        PrefixLabException.Check(!trains || args.Has("iters"), $"missing required option --iters (training steps, 1-{Ranges.MaxSteps}) for {method.Name}");
        int iterations = trains ? args.Int("iters", 0, 1, Ranges.MaxSteps) : 0;
        args.EnsureAllUsed();
        // Prompts and the paper's prefix take the place of the padding, so the inputs carry as many pads;
        // a key/value prefix takes the place of as many as it has positions.
        int layoutPrefix = method.InputPadding(info.PrefixSize);
        int positions = task.Positions(model, layoutPrefix);
        if (trains)
        {
            Ranges.CheckTrainingMemory(model.Config, batch, positions);
        }
        var options = new TrainOptions
        {
            Iterations = iterations,
            LearningRate = lrText is null ? Math.Max(method.DefaultLearningRate, 1e-12) : args.Double("lr", 0, 0, Ranges.MaxLearningRate, aboveMin: true),
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
        double weightDecay = wdText is null ? method.DefaultWeightDecay : args.Double("weight-decay", 0, 0, Ranges.MaxWeightDecay);
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
            Console.WriteLine($"trained {RunFiles.Describe(result)}");
        }
        if (format == SaveFormat.Peft)
        {
            PeftFormat.Save(output, method, model, modelPath);
        }
        else if (format == SaveFormat.HuggingFace)
        {
            HuggingFaceGpt2Writer.Save(output, model, modelPath, modelPath);
        }
        else if (method.TrainsBase)
        {
            ModelFile.Save(output, model, info with { Task = task.Name, Steps = steps, Seed = seed });
        }
        else
        {
            AdapterFile.Save(output, method, new AdapterInfo(method.Name, settings, baseFingerprint, layoutPrefix, task.Name, steps));
        }
        Console.WriteLine($"saved {output}");
        if (evalSamples > 0)
        {
            var eval = task.Evaluate(model, layoutPrefix, evalSamples, 0, 64);
            Console.WriteLine($"{eval.Task}: {eval.Accuracy:P2} ({eval.Correct}/{eval.Samples})");
        }
        return 0;
    }

    /// <summary>Refuses, before any training, a --format that cannot be written for this model, method or --out.</summary>
    private static void CheckFormat(SaveFormat format, string modelPath, string methodName, string output)
    {
        string flag = format == SaveFormat.Peft ? "peft" : "hf";
        // A model file is PrefixLab's own; Hugging Face checkpoints are folders.
        PrefixLabException.Check(format == SaveFormat.PrefixLab || !File.Exists(modelPath),
            $"--format {flag}: '{modelPath}' is a PrefixLab model, which has no Hugging Face counterpart; save with --format prefixlab (the default)");
        if (format == SaveFormat.HuggingFace)
        {
            string models = string.Join(", ", TuningMethods.All.Where(k => k.SavesModel).Select(k => k.Name));
            PrefixLabException.Check(TuningMethods.Find(methodName)?.SavesModel ?? false, $"--format hf saves a whole model, so it goes with --method {models} (a {methodName} adapter goes to --format peft)");
            HuggingFaceGpt2Writer.CheckOutput(output);
        }
        // Which methods PEFT holds is read from the format itself, so a format that learns a method needs no change here.
        PrefixLabException.Check(format != SaveFormat.Peft || PeftFormat.SavableMethods.Contains(methodName, StringComparer.OrdinalIgnoreCase),
            $"option --format peft holds {string.Join(", ", PeftFormat.SavableMethods)} adapters, not {methodName}: drop --format peft or use one of those methods");
    }

    private enum SaveFormat
    {
        PrefixLab,
        Peft,
        HuggingFace,
    }
}
