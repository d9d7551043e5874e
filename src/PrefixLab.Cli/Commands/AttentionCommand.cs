using PrefixLab.Analysis;
using PrefixLab.Reporting;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class AttentionCommand : ICommand
{
    public string Name => "attention";

    public string Summary => "draw the attention maps of every layer and head over one input and its continuation";

    public string Usage => """
        prefixlab attention --model PATH (--input "2 6 0 1 4 6 3 0 1 2" | --prompt TEXT) --out FILE.png [options]
          --model PATH        a PrefixLab model file or a Hugging Face GPT-2 directory
          --adapter PATH      an adapter trained on that model, or a fully fine-tuned model
          --prompt TEXT       the input as text, tokenized with GPT-2's BPE
          --tokenizer DIR     where vocab.json and merges.txt (or tokenizer.json) are (default: the model directory)
          --task T            generate T's output length (default: as many tokens as the input has)
          --rescale-prefix    hide the prefix (and padding) columns and renormalise each row over the rest
          --layer l, --head h draw only this layer, this head (from 0 to the model's layers, heads − 1)
          --csv FILE          also write the attention weights as CSV
        --out and --csv must be two files, neither an input nor an existing device, pipe or folder.
        The continuation is generated greedily; one panel per layer (rows) and head (columns), queries
        down, keys across, the prefix, input and output regions separated by white lines. With a GPT-2
        tokenizer the axes show token strings, else token ids.
        """ + "\n" + LoadFlags.Usage;

    public int Run(Arguments args)
    {
        string modelPath = args.Required("model");
        string? adapterPath = args.Optional("adapter");
        var text = PromptOptions.Read(args);
        string? task = args.Optional("task");
        string output = args.Required("out");
        bool rescale = args.Flag("rescale-prefix");
        int? layer = args.IntIfGiven("layer", 0, 100_000);
        int? head = args.IntIfGiven("head", 0, 100_000);
        string? csv = args.Optional("csv");
        var load = LoadFlags.Read(args);
        args.EnsureAllUsed();
        PrefixLabException.Check(text.Given, "give --input \"2 6 0 1 4 6 3 0 1 2\" or --prompt TEXT");
        var plan = new OutputPlan().File("--out", output).Input("--model", modelPath).Input("--adapter", adapterPath).Input("--tokenizer", text.TokenizerDir);
        (csv is null ? plan : plan.File("--csv", csv)).Check();

        using var adapted = AdaptedModel.Load(modelPath, adapterPath, load);
        var geometry = PrefixGeometry.Of(adapted.Method);
        var (lists, newTokens) = new AnalysisInputOptions(task, text, 1, 0).Resolve(null, modelPath);
        var tokenizer = text.Tokenizer(modelPath);
        Func<long, string>? label = tokenizer is null ? null : id => tokenizer.Decode([(int)id]);
        using var tokens = AnalysisInputs.Sequences(adapted.Model, adapted.PrefixSize, lists, newTokens);
        using var recording = AttentionRecorder.Record(adapted.Model, tokens);
        var maps = AttentionMaps.Build(recording, geometry, adapted.PrefixSize, lists[0].Length, rescale, layer, head, label);
        AttentionHeatmaps.SavePng(output, maps);
        Console.WriteLine($"wrote {output}: {maps.Count} heatmap(s) over {tokens.shape[1]} positions ({string.Join(" ", tokens[0].data<long>().ToArray())})");
        if (csv is not null)
        {
            AttentionHeatmaps.SaveCsv(csv, maps);
            Console.WriteLine($"wrote {csv}");
        }
        return 0;
    }
}
