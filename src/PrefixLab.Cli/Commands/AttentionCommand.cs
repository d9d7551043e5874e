using System.CommandLine;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Reporting;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class AttentionCommand : CliCommand
{
    private readonly Option<string> model = Opt.Required("--model", "PATH", "a PrefixLab model file or a Hugging Face folder (GPT-2, Llama, Mistral, Qwen2)");
    private readonly Option<string?> adapter = Opt.Text("--adapter", "PATH", "an adapter trained on that model, or a fully fine-tuned model (file or Hugging Face folder)");
    private readonly PromptOptions prompt = new();
    private readonly Option<string?> task = Opt.Text("--task", "T", "generate T's output length", defaultText: "as many tokens as the input has");
    private readonly Option<string> output = Opt.Required("--out", "FILE.png", "the picture to write");
    private readonly Option<bool> rescale = Opt.Flag("--rescale-prefix", "hide the prefix (and padding) columns and renormalise each row over the rest");
    private readonly Option<int?> layer = Opt.IntOrNull("--layer", "draw only this layer, up to the model's layers − 1", 0, 100_000, "every layer", "L");
    private readonly Option<int?> head = Opt.IntOrNull("--head", "draw only this head, up to the model's heads − 1", 0, 100_000, "every head", "H");
    private readonly Option<string?> csv = Opt.Text("--csv", "FILE", "also write the attention weights as CSV");
    private readonly LoadFlags loadFlags = new();

    public AttentionCommand()
        : base("attention", "draw the attention maps of every layer and head over one input and its continuation", """
            Give --input "2 6 0 1 4 6 3 0 1 2" or --prompt TEXT. --out and --csv must be two files, neither an
            input nor an existing device, pipe or folder. The continuation is generated greedily; one panel per
            layer (rows) and head (columns), queries down, keys across, the prefix, input and output regions
            separated by white lines. With a tokenizer (--tokenizer, else the model folder's tokenizer.json or
            vocab.json + merges.txt) the axes show token strings, else token ids.
            """)
    {
        Declare([model, adapter, .. prompt.Options, task, output, rescale, layer, head, csv, .. loadFlags.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        string modelPath = parse.GetRequiredValue(model);
        string? adapterPath = parse.GetValue(adapter);
        var text = prompt.Read(parse);
        string picture = parse.GetRequiredValue(output);
        string? csvPath = parse.GetValue(csv);
        var load = loadFlags.Read(parse);
        PrefixLabException.Check(text.Given, "give --input \"2 6 0 1 4 6 3 0 1 2\" or --prompt TEXT");
        var plan = new OutputPlan().File("--out", picture).Input("--model", modelPath).Input("--adapter", adapterPath).Input("--tokenizer", text.TokenizerDir);
        (csvPath is null ? plan : plan.File("--csv", csvPath)).Check();

        using var adapted = AdaptedModel.Load(modelPath, adapterPath, load);
        var geometry = PrefixGeometry.Of(adapted.Method);
        var (lists, newTokens) = new AnalysisInput(parse.GetValue(task), text, 1, 0).Resolve(null, modelPath);
        var tokenizer = AxisTokenizer(text.TokenizerDir, modelPath);
        Func<long, string>? label = tokenizer is null ? null : id => tokenizer.TokenText((int)id);
        using var tokens = AnalysisInputs.Sequences(adapted.Model, adapted.PrefixSize, lists, newTokens);
        using var recording = AttentionRecorder.Record(adapted.Model, tokens);
        var maps = AttentionMaps.Build(recording, geometry, adapted.PrefixSize, lists[0].Length, parse.GetValue(rescale), parse.GetValue(layer), parse.GetValue(head), label);
        AttentionHeatmaps.SavePng(picture, maps);
        Console.WriteLine($"wrote {picture}: {maps.Count} heatmap(s) over {tokens.shape[1]} positions ({string.Join(" ", tokens[0].data<long>().ToArray())})");
        if (csvPath is not null)
        {
            AttentionHeatmaps.SaveCsv(csvPath, maps);
            Console.WriteLine($"wrote {csvPath}");
        }
        return 0;
    }

    /// <summary>
    /// The tokenizer whose token strings label the axes: <c>--tokenizer</c>'s, else the model folder's
    /// (GPT-2's files or a Llama-family <c>tokenizer.json</c>), else none (the axes show ids).
    /// </summary>
    private static ITokenizer? AxisTokenizer(string? tokenizerDir, string modelPath) =>
        tokenizerDir is not null ? Tokenizers.Load(tokenizerDir)
        : Directory.Exists(modelPath) && Tokenizers.Exists(modelPath) ? Tokenizers.Load(modelPath)
        : null;
}
