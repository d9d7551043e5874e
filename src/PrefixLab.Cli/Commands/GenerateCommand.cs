using System.Text.Json;
using PrefixLab.Constructions;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>prefixlab generate</c>: greedy, cached generation. Text prompts go through GPT-2's tokenizer;
/// token ids (or printable ASCII, the constructions' vocabulary) are fed as they are.
/// </summary>
internal sealed class GenerateCommand : ICommand
{
    public string Name => "generate";

    public string Summary => "greedy generation from a model (GPT-2 text or token ids), with an adapter if given";

    public string Usage => """
        prefixlab generate --model PATH (--prompt TEXT | --tokens "3 1 4" | --text T) [options]
          --model PATH       a PrefixLab model file or a Hugging Face GPT-2 directory
          --adapter PATH     a PrefixLab adapter file or a PEFT adapter directory
          --prompt TEXT      text to continue, tokenized with GPT-2's BPE; stops at <|endoftext|>
          --tokenizer DIR    where vocab.json and merges.txt (or tokenizer.json) are (default: the model directory)
          --tokens "..."     the input as token ids (default: none)
          --text T           the input as printable ASCII (id = character - 32); prints text
          --ascii            print generated ids as printable ASCII
          --max-new N        tokens to generate, 0 up to the model's positions left after the input
                             (default 40; --new N is the same; 0 loads everything and generates nothing)
          --prefix-size P    token-id input: padding positions in front, 0 or more (default: the adapter's,
                             else the model's)
          --json             text prompts: print one JSON object (prompt_ids, new_ids, text)
        """ + "\n" + LoadFlags.Usage;

    public int Run(Arguments args)
    {
        string path = args.Required("model");
        string? adapterPath = args.Optional("adapter");
        PrefixLabException.Check(!(args.Has("new") && args.Has("max-new")), "give --max-new or --new, not both");
        int maxNew = args.Has("new") ? args.Int("new", 40, 0, Ranges.MaxNewTokens) : args.Int("max-new", 40, 0, Ranges.MaxNewTokens);
        string? prompt = args.Optional("prompt");
        if (prompt is not null)
        {
            string tokenizerDir = args.Optional("tokenizer") ?? path;
            bool json = args.Flag("json");
            var load = LoadFlags.Read(args);
            args.EnsureAllUsed();
            using var loaded = AdaptedModel.Load(path, adapterPath, load);
            var tokenizer = Gpt2Tokenizer.Load(tokenizerDir);
            var result = TextGeneration.Greedy(loaded.Model, tokenizer, prompt, maxNew, loaded.Method?.PaddingRows ?? 0);
            Console.WriteLine(json ? JsonSerializer.Serialize(result, ModelFile.Json) : prompt + result.Text);
            return 0;
        }

        string? text = args.Optional("text");
        List<int> tokens = text is not null ? [.. AsciiVocabulary.Encode(text)] : args.Optional("tokens") is { } ids ? MethodSettings.ParseTokens(ids, "--tokens") : [];
        int? prefixSize = args.IntIfGiven("prefix-size", 0, 100_000);
        bool ascii = args.Flag("ascii") || text is not null;
        var loadOptions = LoadFlags.Read(args);
        args.EnsureAllUsed();

        using var adapted = AdaptedModel.Load(path, adapterPath, loadOptions);
        var model = adapted.Model;
        int padding = prefixSize ?? adapted.PrefixSize;
        foreach (int t in tokens)
        {
            PrefixLabException.Check(t >= 0 && t < model.Config.VocabSize, $"token {t} is outside the model's vocabulary of {model.Config.VocabSize}");
        }
        PrefixLabException.Check(padding + tokens.Count > 0, "nothing to continue: give --tokens, --text or a --prefix-size above 0");
        PrefixLabException.Check(padding + tokens.Count + maxNew <= model.Config.BlockSize,
            $"option --max-new {maxNew}: {padding} padding + {tokens.Count} input + {maxNew} new tokens exceed the model's {model.Config.BlockSize} positions");
        using var input = tensor([.. Enumerable.Repeat(0L, padding), .. tokens.Select(t => (long)t)], dtype: ScalarType.Int64).unsqueeze(0);
        using var generated = Generation.Greedy(model, input, maxNew);
        // An empty tensor has no data to read: --max-new 0 prints an empty line.
        long[] output = maxNew == 0 ? [] : generated.data<long>().ToArray();
        Console.WriteLine(ascii ? AsciiVocabulary.Decode(output) : string.Join(' ', output));
        return 0;
    }
}
