using PrefixLab.Constructions;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Cli.Commands;

internal sealed class GenerateCommand : ICommand
{
    public string Name => "generate";

    public string Summary => "greedy generation from a model file, with an adapter if given";

    public string Usage => """
        prefixlab generate --model FILE [--adapter FILE] (--tokens "3 1 4" | --text T) --new N [options]
          --model FILE     a PrefixLab model file
          --adapter FILE   an adapter of that model (a soft prompt, prefix, LoRA, ...)
          --tokens "..."   the input token ids (default: none)
          --text T         the input as printable ASCII (id = character - 32); prints text
          --new N          tokens to generate
          --prefix-size P  padding positions in front (default: the adapter's, else the model's)
          --ascii          print the generated tokens as printable ASCII
        """;

    public int Run(Arguments args)
    {
        string path = args.Required("model");
        string? adapterPath = args.Optional("adapter");
        string? text = args.Optional("text");
        var tokens = text is not null ? [.. AsciiVocabulary.Encode(text)] : args.Optional("tokens") is { } ids ? MethodSettings.ParseTokens(ids) : [];
        int count = args.Int("new", 1, 0, 100_000);
        int? prefixSize = args.Has("prefix-size") ? args.Int("prefix-size", 0, 0) : null;
        bool ascii = args.Flag("ascii") || text is not null;
        args.EnsureAllUsed();

        var (model, info) = ModelFile.Load(path);
        using (model)
        {
            (ITuningMethod Method, AdapterInfo Info)? adapter = adapterPath is null ? null : AdapterFile.Load(adapterPath, model);
            using var method = adapter?.Method;
            int padding = prefixSize ?? adapter?.Info.PrefixSize ?? info.PrefixSize;
            foreach (int t in tokens)
            {
                PrefixLabException.Check(t >= 0 && t < model.Config.VocabSize, $"token {t} is outside the model's vocabulary of {model.Config.VocabSize}");
            }
            using var prompt = tensor([.. Enumerable.Repeat(0L, padding), .. tokens.Select(t => (long)t)], dtype: ScalarType.Int64).unsqueeze(0);
            using var generated = Generation.Greedy(model, prompt, count);
            var result = generated.data<long>().ToArray();
            Console.WriteLine(ascii ? AsciiVocabulary.Decode(result) : string.Join(' ', result));
        }
        return 0;
    }
}
