using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>prefixlab completions</c>: paper C1's count of distinct greedy continuations from every single
/// real token against trained single virtual tokens, in front of the same prompt.
/// </summary>
internal sealed class CompletionsCommand : CliCommand
{
    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Option<string> model = Opt.Required("--model", "PATH", "a PrefixLab model file or a Hugging Face folder (GPT-2, Llama, Mistral, Qwen2)");
    private readonly Option<string[]> adapters = Opt.List("--adapters", "A1,A2", "soft-prompt or prefix adapter files with one virtual token (P = 1)", "file");
    private readonly Option<string?> virtualFrom = Opt.Text("--virtual-from", "DIR", "every *.safetensors adapter in DIR (without it or --adapters: real tokens only)");
    private readonly Option<int> length = Opt.Int("--length", "tokens generated after the prompt, up to the model's positions − the prompt", 10, 1, 100_000, "K");
    private readonly PromptOptions prompt = new();
    private readonly Option<int> batch = Opt.Int("--batch", "rows per generation", 256, 1, Ranges.MaxBatch);
    private readonly Option<bool> json = Opt.Flag("--json", "print one JSON object, with each virtual token's continuation");

    public CompletionsCommand()
        : base("completions", "distinct greedy continuations: all V real tokens against trained virtual tokens (C1)", """
            Each of the V tokens t in turn: the model reads [t, prompt...] (--prompt or --input, default none)
            and continues greedily for k tokens. Each adapter: position 0 holds its vector(s) instead of a
            token. Counts the distinct k-token continuations of each (at most V for the real tokens);
            end-of-text does not stop them.
            """)
    {
        Declare([model, adapters, virtualFrom, length, .. prompt.Options, batch, json]);
    }

    protected override int Run(ParseResult parse)
    {
        string modelPath = parse.GetRequiredValue(model);
        string[] list = parse.GetValue(adapters)!;
        string? folder = parse.GetValue(virtualFrom);
        int steps = parse.GetValue(length);
        var text = prompt.Read(parse);
        int rows = parse.GetValue(batch);
        PrefixLabException.Check(list.Length == 0 || folder is null, "give --adapters or --virtual-from, not both");
        var adapterPaths = folder is not null ? AdaptersIn(folder) : list;
        // Every adapter file is checked before the long count over the vocabulary starts.
        foreach (string path in adapterPaths)
        {
            PrefixLabException.Check(!Directory.Exists(path), $"'{path}' is a directory: give PrefixLab soft-prompt adapter files (PEFT folders are not read here)");
            PrefixLabException.Check(File.Exists(path), $"adapter file not found: '{path}'");
        }

        var (gpt, _) = ModelLoader.Load(modelPath);
        using (gpt)
        {
            int[] promptIds = text.Ids(modelPath) ?? [];
            var tokenizer = text.Tokenizer(modelPath);
            var virtualTokens = CompletionCount.LoadAdapters(gpt, adapterPaths);
            var realProgress = new ProgressPrinter("real tokens");
            var real = CompletionCount.Tally(CompletionCount.Real(gpt, promptIds, steps, rows, realProgress.Report));
            var virtualProgress = new ProgressPrinter("virtual tokens");
            var continuations = virtualTokens.Count == 0 ? [] : CompletionCount.Virtual(gpt, virtualTokens, promptIds, steps, rows, virtualProgress.Report);
            var tally = virtualTokens.Count == 0 ? null : CompletionCount.Tally(continuations);
            string? Decode(int[] ids) => tokenizer?.Decode(ids);
            if (parse.GetValue(json))
            {
                var report = new
                {
                    Model = modelPath,
                    Length = steps,
                    PromptIds = promptIds,
                    Vocab = gpt.Shape.VocabSize,
                    Real = real,
                    RealMostCommonText = Decode(real.MostCommon),
                    Virtual = tally,
                    Continuations = virtualTokens.Select((v, i) => new { Adapter = v.Source, v.Method, Ids = continuations[i], Text = Decode(continuations[i]) }),
                };
                Console.WriteLine(JsonSerializer.Serialize(report, ModelFile.Json));
                return 0;
            }
            string shown = text.Prompt is not null ? $"\"{text.Prompt}\" ({promptIds.Length} tokens)" : promptIds.Length == 0 ? "no prompt" : $"[{string.Join(' ', promptIds)}]";
            Console.WriteLine($"greedy {steps}-token continuations after one token and {shown}");
            Console.WriteLine(Line("single real tokens:   ", real, $"all {gpt.Shape.VocabSize:N0} tokens (at most V)", Decode));
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
