using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Tuning;

namespace PrefixLab.Cli.Commands;

internal sealed class GenerateCommand : ICommand
{
    public string Name => "generate";

    public string Summary => "continue a text prompt greedily (GPT-2 checkpoints)";

    public string Usage => """
        prefixlab generate --model DIR --prompt "..." [options]
          --model DIR        a Hugging Face GPT-2 directory (or a PrefixLab model file with --tokenizer)
          --prompt TEXT      the text to continue
          --max-new N        tokens to generate at most (default 40); stops at <|endoftext|>
          --adapter PATH     a PrefixLab adapter file or a PEFT adapter directory
          --tokenizer DIR    where vocab.json and merges.txt are (default: the model directory)
          --json             print one JSON object: prompt_ids, new_ids, text
        """;

    public int Run(Arguments args)
    {
        string path = args.Required("model");
        string prompt = args.Required("prompt");
        int maxNew = args.Int("max-new", 40, 0, 1_000_000);
        string? adapterPath = args.Optional("adapter");
        string tokenizerDir = args.Optional("tokenizer") ?? path;
        bool json = args.Flag("json");
        args.EnsureAllUsed();

        var (model, _) = ModelFile.Load(path);
        using (model)
        {
            var tokenizer = Gpt2Tokenizer.Load(tokenizerDir);
            using var adapter = adapterPath is null ? null : AdapterFile.Load(adapterPath, model).Method;
            var result = TextGeneration.Greedy(model, tokenizer, prompt, maxNew, adapter?.PaddingRows ?? 0);
            Console.WriteLine(json ? JsonSerializer.Serialize(result, ModelFile.Json) : prompt + result.Text);
        }
        return 0;
    }
}
