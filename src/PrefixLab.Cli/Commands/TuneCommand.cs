using System.CommandLine;
using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Workflows;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class TuneCommand : CliCommand
{
    private readonly Option<string> modelOption = Opt.Required("--model", "FILE|DIR", "a PrefixLab model file or a Hugging Face GPT-2, Llama, Mistral or Qwen2 folder");
    private readonly Option<string> methodOption = Opt.Required("--method", "M", $"the tuning method: {MethodOptions.MethodNames}");
    private readonly Option<int?> itersOption = Opt.IntOrNull("--iters", "training steps: required for every method that trains (hard-prompt trains nothing)", 1, Ranges.MaxSteps);
    private readonly Option<string> outOption = Opt.Required("--out", "FILE",
        "the adapter (or model, for full) to write; FILE.ckpt.safetensors and FILE.log.jsonl go beside it. None may be an input or an existing device, pipe or folder.");
    private readonly Option<double?> lrOption = Opt.DoubleOrNull("--lr", "learning rate", 0, Ranges.MaxLearningRate, aboveMin: true,
        "the method's own (the paper's: prefix, soft prompt 5e-5; LoRA 5e-3; full 5e-4)");
    private readonly Option<double?> weightDecayOption = Opt.DoubleOrNull("--weight-decay", "AdamW weight decay", 0, Ranges.MaxWeightDecay, false,
        "the method's own (0.01, PyTorch's AdamW default; full: 0.1 on Linear weights)");
    private readonly MethodOptions method = new();
    private readonly TrainingOptions training = new();
    private readonly ChoiceOption<TuneFormat> formatOption = Opt.Choice("--format",
        $"peft: save a {string.Join(", ", PeftFormat.SavableMethods)} adapter as a PEFT directory (adapter_config.json, adapter_model.safetensors) at --out, "
        + "the config naming the base model as --model is typed; hf: full on a Hugging Face model, saved as a new Hugging Face folder of its layout at --out "
        + "(config.json, model.safetensors, the tokenizer files), which transformers loads",
        ("prefixlab", TuneFormat.PrefixLab), ("peft", TuneFormat.Peft), ("hf", TuneFormat.HuggingFace));
    private readonly LoadFlags load = new();
    private readonly TaskSourceOptions taskOptions = new();

    public TuneCommand()
        : base("tune", "adapt a model to a task with a tuning method and save the adapter", """
            Give --task T or --data FILE. Adapters hold only the method's own tensors; full saves a model.
            --keep-best with --data needs a validation split. Every option, output and format is checked
            before the first step.
            """)
    {
        Declare([modelOption, methodOption, itersOption, outOption, lrOption, weightDecayOption, .. method.Options, .. training.Options, formatOption, .. load.Options, .. taskOptions.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        string modelPath = parse.GetRequiredValue(modelOption);
        string methodName = parse.GetRequiredValue(methodOption);
        string output = parse.GetRequiredValue(outOption);
        var format = formatOption.Read(parse);
        CheckFormat(format, modelPath, methodName, output);
        var task = taskOptions.Read(parse, modelPath);
        var (model, info) = ModelLoader.Load(modelPath, load.Read(parse));
        using var _ = model;
        task.CheckFits(model);
        PrefixLabException.Check(format != TuneFormat.PrefixLab || !TuningMethods.Get(methodName).SavesModel || ModelFile.Holds(model),
            $"a PrefixLab model file holds GPT models; save {methodName} of this {model.Family.Name} model as a Hugging Face folder with --format hf");
        var settings = method.Read(parse, model, info.PrefixSize, TuningMethods.Get(methodName));
        var run = training.Read(parse, output);
        PrefixLabException.Check(!run.KeepBest || task.HasValidation, "--keep-best needs a validation split: a digit task (--task) or --data with a validation split");
        var plan = format switch
        {
            TuneFormat.Peft => new OutputPlan().Directory("--out", output, PeftFormat.WeightsFile, PeftFormat.ConfigFile),
            TuneFormat.HuggingFace => new OutputPlan().Directory("--out", output),
            _ => new OutputPlan().File("--out", output),
        };
        task.AddInputsTo(RunFiles.AddTo(plan, "--out", output, run.TensorBoard).Input("--model", modelPath)).Check();

        using var tuning = TuneWorkflow.Attach(model, info, methodName, settings, run.Seed);
        // A method with nothing to train (hard-prompt) takes no steps; every other one needs --iters.
        bool trains = tuning.Trains;
        int? iterations = parse.GetValue(itersOption);
        PrefixLabException.Check(trains || iterations is null, $"option --iters: {tuning.Method.Name} trains nothing, leave --iters out");
        PrefixLabException.Check(!trains || iterations is not null, $"missing required option --iters (training steps, 1-{Ranges.MaxSteps}) for {tuning.Method.Name}");
        int positions = task.Positions(model, tuning.InputPadding);
        if (trains)
        {
            Ranges.CheckTrainingMemory(model.Shape, run.Batch, positions);
        }
        var options = run.For(iterations ?? 0, parse.GetValue(lrOption) ?? tuning.DefaultLearningRate);
        double weightDecay = parse.GetValue(weightDecayOption) ?? tuning.DefaultWeightDecay;

        var result = tuning.Run(
            new TuneRequest(task.Data, options, output)
            {
                WeightDecay = weightDecay,
                Format = format,
                BaseModel = modelPath,
                EvalSamples = run.EvalSamples > 0 ? run.EvalSamples : null,
                FinalEvalSamples = run.EvalSamples,
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
            HuggingFaceWriter.CheckOutput(output);
        }
        // Which methods PEFT holds is read from the format itself, so a format that learns a method needs no change here.
        PrefixLabException.Check(format != TuneFormat.Peft || PeftFormat.SavableMethods.Contains(methodName, StringComparer.OrdinalIgnoreCase),
            $"option --format peft holds {string.Join(", ", PeftFormat.SavableMethods)} adapters, not {methodName}: drop --format peft or use one of those methods");
    }
}
