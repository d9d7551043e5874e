using System.CommandLine;
using System.Text.Json;
using PrefixLab.Evaluation;
using PrefixLab.Interop;
using PrefixLab.Tasks;
using PrefixLab.Tuning;
using PrefixLab.Workflows;

namespace PrefixLab.Cli.Commands;

internal sealed class EvalCommand : CliCommand
{
    private readonly Option<string> modelOption = Opt.Required("--model", "FILE|DIR", "a PrefixLab model file or a Hugging Face GPT-2, Llama, Mistral or Qwen2 folder");
    private readonly Option<string?> adapterOption = Opt.Text("--adapter", "PATH", "an adapter trained on that model (prefix, prompt, LoRA), a PEFT directory, or a fully fine-tuned model");
    private readonly TaskSourceOptions taskOptions = new();
    private readonly Option<int?> samplesOption = Opt.IntOrNull("--samples", "test samples", 1, Ranges.MaxSamples, "3200; text tasks: the whole test split");
    private readonly Option<ulong> seedOption = Opt.Seed("--seed", "which test samples", 0);
    private readonly ChoiceOption<DataSplit> splitOption = Opt.Choice("--split",
        "the split to score: test, or validation (digit tasks: the lists --keep-best held out; text data: its validation split)",
        ("test", DataSplit.Test), ("validation", DataSplit.Validation));
    private readonly Option<int?> prefixSizeOption = Opt.IntOrNull("--prefix-size", "padding positions, at most the model's positions − 1", 0, 100_000, "the adapter's, else the model's", "P");
    private readonly Option<int> batchOption = Opt.Int("--batch", "samples decoded at once", 256, 1, Ranges.MaxBatch);
    private readonly Option<bool> jsonOption = Opt.Flag("--json", "print one JSON object");
    private readonly LoadFlags loadFlags = new();

    public EvalCommand()
        : base("eval", "exact-match accuracy of greedy decoding on a task's test split", "Give --task T or --data FILE.")
    {
        Declare([modelOption, adapterOption, .. taskOptions.Options, samplesOption, seedOption, splitOption, prefixSizeOption, batchOption, jsonOption, .. loadFlags.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        string path = parse.GetRequiredValue(modelOption);
        string? adapterPath = parse.GetValue(adapterOption);
        var task = taskOptions.Read(parse, path);
        int? samples = parse.GetValue(samplesOption);
        ulong seed = parse.GetValue(seedOption);
        int? prefixSize = parse.GetValue(prefixSizeOption);
        int batch = parse.GetValue(batchOption);
        bool json = parse.GetValue(jsonOption);
        var split = splitOption.Read(parse);
        var load = loadFlags.Read(parse);
        PrefixLabException.Check(split == DataSplit.Test || task.HasValidation, "--split validation needs a digit task (--task) or --data with a validation split");

        using var loaded = AdaptedModel.Load(path, adapterPath, load);
        task.CheckFits(loaded.Model);
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
