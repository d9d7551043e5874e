using System.Text.Json;
using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Tuning;
using PrefixLab.Workflows;

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
          --samples N      test samples, 1-1000000 (default 3200; text tasks: the whole test split)
          --seed S         which test samples, 0 or more (default 0)
          --split S        test (default) or validation (digit tasks: the lists --keep-best held out;
                           text data: its validation split)
          --prefix-size P  padding positions, 0 to the model's positions − 1 (default: the adapter's, else the model's)
          --batch N        samples decoded at once, 1-65536 (default 256)
          --json           print one JSON object
        """ + "\n" + LoadFlags.Usage + "\n" + TaskSource.Usage;

    public int Run(Arguments args)
    {
        string path = args.Required("model");
        string? adapterPath = args.Optional("adapter");
        var task = TaskSource.Read(args, path);
        int? samples = args.IntIfGiven("samples", 1, Ranges.MaxSamples);
        ulong seed = args.Seed("seed", 0);
        int? prefixSize = args.IntIfGiven("prefix-size", 0, 100_000);
        int batch = args.Int("batch", 256, 1, Ranges.MaxBatch);
        bool json = args.Flag("json");
        var split = args.Choice("split", ("test", DataSplit.Test), ("validation", DataSplit.Validation));
        var load = LoadFlags.Read(args);
        args.EnsureAllUsed();
        PrefixLabException.Check(split == DataSplit.Test || task.HasValidation, "--split validation needs a digit task (--task) or --data with a validation split");

        using var loaded = AdaptedModel.Load(path, adapterPath, load);
        if (prefixSize is int p)
        {
            ContextKnobs.CheckPrefixSize(loaded.Model, p, "option --prefix-size");
        }
        task.Positions(loaded.Model, prefixSize ?? loaded.PrefixSize);
        var result = EvaluateWorkflow.Score(loaded, new EvaluateRequest(path, [task.Data])
        {
            Adapter = adapterPath,
            Load = load,
            Samples = samples,
            Seed = seed,
            BatchSize = batch,
            Split = split,
            PrefixSize = prefixSize,
        })[0];
        Console.WriteLine(json
            ? JsonSerializer.Serialize(result, ModelFile.Json)
            : $"{result.Task}: {result.Accuracy:P2} ({result.Correct}/{result.Samples} exactly right)");
        return 0;
    }
}
