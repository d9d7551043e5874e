using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Workflows;
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
        var format = args.Choice("format", ("prefixlab", TuneFormat.PrefixLab), ("peft", TuneFormat.Peft), ("hf", TuneFormat.HuggingFace));
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
            TuneFormat.Peft => new OutputPlan().Directory("--out", output, PeftFormat.WeightsFile, PeftFormat.ConfigFile),
            TuneFormat.HuggingFace => new OutputPlan().Directory("--out", output),
            _ => new OutputPlan().File("--out", output),
        };
        task.AddInputsTo(RunFiles.AddTo(plan, "--out", output, tensorBoard).Input("--model", modelPath)).Check();

        using var tuning = TuneWorkflow.Attach(model, info, methodName, settings, seed);
        // A method with nothing to train (hard-prompt) takes no steps; every other one needs --iters.
        bool trains = tuning.Trains;
        PrefixLabException.Check(trains || !args.Has("iters"), $"option --iters: {tuning.Method.Name} trains nothing, leave --iters out");
        PrefixLabException.Check(!trains || args.Has("iters"), $"missing required option --iters (training steps, 1-{Ranges.MaxSteps}) for {tuning.Method.Name}");
        int iterations = trains ? args.Int("iters", 0, 1, Ranges.MaxSteps) : 0;
        args.EnsureAllUsed();
        int positions = task.Positions(model, tuning.InputPadding);
        if (trains)
        {
            Ranges.CheckTrainingMemory(model.Config, batch, positions);
        }
        var options = new TrainOptions
        {
            Iterations = iterations,
            LearningRate = lrText is null ? tuning.DefaultLearningRate : args.Double("lr", 0, 0, Ranges.MaxLearningRate, aboveMin: true),
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
        double weightDecay = wdText is null ? tuning.DefaultWeightDecay : args.Double("weight-decay", 0, 0, Ranges.MaxWeightDecay);

        var result = tuning.Run(
            new TuneRequest(task.Data, options, output)
            {
                WeightDecay = weightDecay,
                Format = format,
                BaseModel = modelPath,
                EvalSamples = evalSamples > 0 ? evalSamples : null,
                FinalEvalSamples = evalSamples,
            },
            new ProgressPrinter("tune").Report);
        if (result.Training is { } trained)
        {
            RunFiles.ReportKept(trained);
            Console.WriteLine($"trained {RunFiles.Describe(trained)}");
        }
        Console.WriteLine($"saved {output}");
        if (result.Evaluation is { } eval)
        {
            Console.WriteLine($"{eval.Task}: {eval.Accuracy:P2} ({eval.Correct}/{eval.Samples})");
        }
        return 0;
    }

    /// <summary>Refuses, before any training, a --format that cannot be written for this model, method or --out.</summary>
    private static void CheckFormat(TuneFormat format, string modelPath, string methodName, string output)
    {
        string flag = format == TuneFormat.Peft ? "peft" : "hf";
        // A model file is PrefixLab's own; Hugging Face checkpoints are folders.
        PrefixLabException.Check(format == TuneFormat.PrefixLab || !File.Exists(modelPath),
            $"--format {flag}: '{modelPath}' is a PrefixLab model, which has no Hugging Face counterpart; save with --format prefixlab (the default)");
        if (format == TuneFormat.HuggingFace)
        {
            string models = string.Join(", ", TuningMethods.All.Where(k => k.SavesModel).Select(k => k.Name));
            PrefixLabException.Check(TuningMethods.Find(methodName)?.SavesModel ?? false, $"--format hf saves a whole model, so it goes with --method {models} (a {methodName} adapter goes to --format peft)");
            HuggingFaceGpt2Writer.CheckOutput(output);
        }
        // Which methods PEFT holds is read from the format itself, so a format that learns a method needs no change here.
        PrefixLabException.Check(format != TuneFormat.Peft || PeftFormat.SavableMethods.Contains(methodName, StringComparer.OrdinalIgnoreCase),
            $"option --format peft holds {string.Join(", ", PeftFormat.SavableMethods)} adapters, not {methodName}: drop --format peft or use one of those methods");
    }
}
