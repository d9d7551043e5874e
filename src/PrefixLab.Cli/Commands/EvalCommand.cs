using System.Text.Json;
using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class EvalCommand : ICommand
{
    public string Name => "eval";

    public string Summary => "exact-match accuracy of greedy decoding on a task's test split";

    public string Usage => """
        prefixlab eval --model FILE|DIR (--task T | --data FILE) [options]
          --model FILE     a PrefixLab model file or a Hugging Face GPT-2 directory
          --adapter PATH   an adapter trained on that model (prefix, prompt, LoRA), a PEFT directory,
                           or a fully fine-tuned model
          --samples N      test samples (default 3200; text tasks: the whole test split)
          --seed S         which test samples (default 0)
          --split S        test (default) or validation (digit tasks: the lists --keep-best held out;
                           text data: its validation split)
          --prefix-size P  padding positions (default: the adapter's, else the model's)
          --batch N        samples decoded at once (default 256)
          --json           print one JSON object
        """ + "\n" + TaskSource.Usage;

    public int Run(Arguments args)
    {
        string path = args.Required("model");
        string? adapterPath = args.Optional("adapter");
        var task = TaskSource.Read(args, path);
        int? samples = args.Has("samples") ? args.Int("samples", Evaluator.DefaultSamples, 1) : null;
        ulong seed = args.Seed("seed", 0);
        int? prefixSize = args.Has("prefix-size") ? args.Int("prefix-size", 0, 0) : null;
        int batch = args.Int("batch", 256, 1);
        bool json = args.Flag("json");
        var split = args.Choice("split", ("test", DataSplit.Test), ("validation", DataSplit.Validation));
        args.EnsureAllUsed();
        PrefixLabException.Check(split == DataSplit.Test || task.HasValidation, "--split validation needs a digit task (--task) or --data with a validation split");

        using var loaded = AdaptedModel.Load(path, adapterPath);
        var result = task.Evaluate(loaded.Model, prefixSize ?? loaded.PrefixSize, samples, seed, batch, split);
        Console.WriteLine(json
            ? JsonSerializer.Serialize(result, ModelFile.Json)
            : $"{result.Task}: {result.Accuracy:P2} ({result.Correct}/{result.Samples} exactly right)");
        return 0;
    }
}
