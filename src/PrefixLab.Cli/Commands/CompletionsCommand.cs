using System.Globalization;
using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>prefixlab completions</c>: paper C1's count of distinct greedy continuations from every single
/// real token against trained single virtual tokens, in front of the same prompt.
/// </summary>
internal sealed class CompletionsCommand : ICommand
{
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string Name => "completions";

    public string Summary => "distinct greedy continuations: all V real tokens against trained virtual tokens (C1)";

    public string Usage => """
        prefixlab completions --model PATH [--adapters A1,A2,... | --virtual-from DIR] [options]
          --model PATH         a PrefixLab model file or a Hugging Face GPT-2 directory
          --adapters A1,A2     soft-prompt or prefix adapter files with one virtual token (P = 1)
          --virtual-from DIR   every *.safetensors adapter in DIR (without either: real tokens only)
          --length k           tokens generated after the prompt, 1 up to the model's positions − the prompt (default 10)
          --prompt TEXT        text after the token, tokenized with GPT-2's BPE (default: none)
          --tokenizer DIR      where vocab.json and merges.txt (or tokenizer.json) are (default: the model directory)
          --input "ids"        or the prompt as token ids
          --batch N            rows per generation, 1-65536 (default 256)
          --json               print one JSON object, with each virtual token's continuation
        Each of the V tokens t in turn: the model reads [t, prompt...] and continues greedily for k
        tokens. Each adapter: position 0 holds its vector(s) instead of a token. Counts the distinct
        k-token continuations of each (at most V for the real tokens); end-of-text does not stop them.
        """;

    public int Run(Arguments args)
    {
        string modelPath = args.Required("model");
        string? list = args.Optional("adapters");
        string? folder = args.Optional("virtual-from");
        int length = args.Int("length", 10, 1, 100_000);
        var text = PromptOptions.Read(args);
        int batch = args.Int("batch", 256, 1, Ranges.MaxBatch);
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        PrefixLabException.Check(list is null || folder is null, "give --adapters or --virtual-from, not both");
        var adapterPaths = list is not null ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : folder is not null ? AdaptersIn(folder)
            : [];
        PrefixLabException.Check(list is null || adapterPaths.Length > 0, "option --adapters names no file");
        // Every adapter file is checked before the long count over the vocabulary starts.
        foreach (string path in adapterPaths)
        {
            PrefixLabException.Check(!Directory.Exists(path), $"'{path}' is a directory: give PrefixLab soft-prompt adapter files (PEFT folders are not read here)");
            PrefixLabException.Check(File.Exists(path), $"adapter file not found: '{path}'");
        }

        var (model, _) = ModelFile.Load(modelPath);
        using (model)
        {
            int[] prompt = text.Ids(modelPath) ?? [];
            var tokenizer = text.Tokenizer(modelPath);
            var virtualTokens = CompletionCount.LoadAdapters(model, adapterPaths);
            var realProgress = new ProgressPrinter("real tokens");
            var real = CompletionCount.Tally(CompletionCount.Real(model, prompt, length, batch, realProgress.Report));
            var virtualProgress = new ProgressPrinter("virtual tokens");
            var continuations = virtualTokens.Count == 0 ? [] : CompletionCount.Virtual(model, virtualTokens, prompt, length, batch, virtualProgress.Report);
            var tally = virtualTokens.Count == 0 ? null : CompletionCount.Tally(continuations);
            string? Decode(int[] ids) => tokenizer?.Decode(ids);
            if (json)
            {
                var report = new
                {
                    Model = modelPath,
                    Length = length,
                    PromptIds = prompt,
                    Vocab = model.Config.VocabSize,
                    Real = real,
                    RealMostCommonText = Decode(real.MostCommon),
                    Virtual = tally,
                    Continuations = virtualTokens.Select((v, i) => new { Adapter = v.Source, v.Method, Ids = continuations[i], Text = Decode(continuations[i]) }),
                };
                Console.WriteLine(JsonSerializer.Serialize(report, ModelFile.Json));
                return 0;
            }
            string shown = text.Prompt is not null ? $"\"{text.Prompt}\" ({prompt.Length} tokens)" : prompt.Length == 0 ? "no prompt" : $"[{string.Join(' ', prompt)}]";
            Console.WriteLine($"greedy {length}-token continuations after one token and {shown}");
            Console.WriteLine(Line("single real tokens:   ", real, $"all {model.Config.VocabSize:N0} tokens (at most V)", Decode));
            if (tally is not null)
            {
                string kinds = string.Join(", ", virtualTokens.GroupBy(v => v.Method).Select(g => $"{g.Count():N0} {g.Key}"));
                Console.WriteLine(Line("single virtual tokens:", tally, $"{tally.Tried:N0} adapters ({kinds})", Decode));
            }
            return 0;
        }
    }

    private static string Line(string what, CompletionTally tally, string from, Func<int[], string?> decode)
    {
        // Quoted and escaped as JSON so control characters show, but other scripts stay readable.
        string common = decode(tally.MostCommon) is { } t ? JsonSerializer.Serialize(t, Readable) : $"[{string.Join(' ', tally.MostCommon)}]";
        return string.Create(CultureInfo.InvariantCulture, $"  {what} {tally.Distinct:N0} distinct from {from}; most common {common} from {tally.MostCommonCount:N0}");
    }

    private static string[] AdaptersIn(string folder)
    {
        PrefixLabException.Check(Directory.Exists(folder), $"directory not found: '{folder}'");
        var files = Directory.GetFiles(folder, "*.safetensors").Order(StringComparer.Ordinal).ToArray();
        PrefixLabException.Check(files.Length > 0, $"'{folder}' holds no .safetensors adapter");
        return files;
    }
}
