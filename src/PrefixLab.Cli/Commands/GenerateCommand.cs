using System.CommandLine;
using System.Text.Json;
using PrefixLab.Constructions;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>prefixlab generate</c>: greedy, cached generation. Text prompts go through the model folder's
/// tokenizer (GPT-2's, or a Llama-family <c>tokenizer.json</c>: <see cref="Tokenizers.Load"/>);
/// token ids (or printable ASCII, the constructions' vocabulary) are fed as they are.
/// </summary>
internal sealed class GenerateCommand : CliCommand
{
    private readonly Option<string> model = Opt.Required("--model", "PATH", "a PrefixLab model file or a Hugging Face GPT-2, Llama, Mistral or Qwen2 folder");
    private readonly Option<string?> adapter = Opt.Text("--adapter", "PATH", "a PrefixLab adapter file or a PEFT adapter directory");
    private readonly Option<string?> prompt = Opt.Text("--prompt", "TEXT", "text to continue, tokenized with the model's tokenizer (with the BOS its config asks for); stops at its end-of-sequence token");
    private readonly Option<string?> tokenizer = Opt.Text("--tokenizer", "DIR", "with --prompt: where tokenizer.json (or vocab.json and merges.txt) is", defaultText: "the model directory");
    private readonly Option<int[]> tokens = Opt.TokenIds("--tokens", "the input as token ids, e.g. \"3 1 4\"", "none");
    private readonly Option<string?> text = Opt.Text("--text", "T", "the input as printable ASCII (id = character - 32); prints text");
    private readonly Option<bool> ascii = Opt.Flag("--ascii", "print generated ids as printable ASCII");
    private readonly Option<int> maxNew = Opt.Int("--max-new", "tokens to generate, up to the model's positions left after the input; 0 loads everything and generates nothing", 40, 0, Ranges.MaxNewTokens);
    private readonly Option<int?> prefixSize = Opt.IntOrNull("--prefix-size", "token-id input: padding positions in front", 0, 100_000, "the adapter's, else the model's", "P");
    private readonly Option<bool> json = Opt.Flag("--json", "text prompts: print one JSON object (prompt_ids, new_ids, text)");
    private readonly LoadFlags load = new();

    public GenerateCommand()
        : base("generate", "greedy generation from a model (text or token ids), with an adapter if given")
    {
        maxNew.Aliases.Add("--new");
        Declare([model, adapter, prompt, tokenizer, tokens, text, ascii, maxNew, prefixSize, json, .. load.Options]);
    }

    protected override int Run(ParseResult parse)
    {
        string path = parse.GetRequiredValue(model);
        string? adapterPath = parse.GetValue(adapter);
        int newTokens = parse.GetValue(maxNew);
        var loadOptions = load.Read(parse);
        string? promptText = parse.GetValue(prompt);
        string? asciiText = parse.GetValue(text);
        PrefixLabException.Check(new[] { promptText is not null, parse.GetValue(tokens)!.Length > 0, asciiText is not null }.Count(given => given) <= 1, "give one of --prompt TEXT, --tokens \"ids\" and --text T");
        PrefixLabException.Check(promptText is not null || !parse.GetValue(json), "--json goes with --prompt TEXT");
        PrefixLabException.Check(promptText is null || (parse.GetValue(prefixSize) is null && !parse.GetValue(ascii)), "--prefix-size and --ascii go with --tokens or --text, not --prompt");
        if (promptText is not null)
        {
            using var loaded = AdaptedModel.Load(path, adapterPath, loadOptions);
            string? tokenizerDir = parse.GetValue(tokenizer);
            PrefixLabException.Check(tokenizerDir is not null || Directory.Exists(path),
                $"--prompt needs a tokenizer: '{path}' is not a folder; name a tokenizer folder with --tokenizer DIR");
            var textTokenizer = Tokenizers.Load(tokenizerDir ?? path);
            var result = TextGeneration.Greedy(loaded.Model, textTokenizer, promptText, newTokens, loaded.Method?.PaddingRows ?? 0);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(result, ModelFile.Json) : promptText + TextGeneration.TextAfterPrompt(textTokenizer, result));
            return 0;
        }

        int[] ids = asciiText is not null ? AsciiVocabulary.Encode(asciiText) : parse.GetValue(tokens)!;
        bool asAscii = parse.GetValue(ascii) || asciiText is not null;
        using var adapted = AdaptedModel.Load(path, adapterPath, loadOptions);
        var gpt = adapted.Model;
        int padding = parse.GetValue(prefixSize) ?? adapted.PrefixSize;
        foreach (int t in ids)
        {
            PrefixLabException.Check(t >= 0 && t < gpt.Shape.VocabSize, $"token {t} is outside the model's vocabulary of {gpt.Shape.VocabSize}");
        }
        PrefixLabException.Check(padding + ids.Length > 0, "nothing to continue: give --tokens, --text or a --prefix-size above 0");
        PrefixLabException.Check(padding + ids.Length + newTokens <= gpt.Shape.Positions,
            $"option --max-new {newTokens}: {padding} padding + {ids.Length} input + {newTokens} new tokens exceed the model's {gpt.Shape.Positions} positions");
        using var input = tensor([.. Enumerable.Repeat(0L, padding), .. ids.Select(t => (long)t)], dtype: ScalarType.Int64).unsqueeze(0);
        using var generated = Generation.Greedy(gpt, input, newTokens);
        // An empty tensor has no data to read: --max-new 0 prints an empty line.
        long[] output = newTokens == 0 ? [] : generated.data<long>().ToArray();
        Console.WriteLine(asAscii ? AsciiVocabulary.Decode(output) : string.Join(' ', output));
        return 0;
    }
}
