using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using PrefixLab.Interop;

namespace PrefixLab.Cli.Commands;

/// <summary>
/// <c>prefixlab tokenize</c>: a checkpoint's tokenizer on its own (GPT-2's, or a Llama-family
/// <c>tokenizer.json</c>: <see cref="Tokenizers.Load"/>), to see the ids a text gets (and compare them with
/// another tool's), the text of ids, or the tokenizer's speed on a file.
/// </summary>
internal sealed class TokenizeCommand : CliCommand
{
    private readonly Option<string> tokenizerOption = Opt.Required("--tokenizer", "DIR", "a Hugging Face tokenizer directory: tokenizer.json (GPT-2, Llama 2/3, Mistral, Qwen2, SmolLM), or vocab.json and merges.txt");
    private readonly Option<string?> textOption = Opt.Text("--text", "T", "prints the ids of T");
    private readonly Option<string?> fileOption = Opt.Text("--file", "F", "prints the ids of a UTF-8 text file");
    private readonly Option<int[]> idsOption = Opt.TokenIds("--ids", "prints the text of the ids, e.g. \"15496 995\"");
    private readonly Option<bool> speedOption = Opt.Flag("--speed", "with --file: prints the tokens, bytes and tokens per second instead of the ids");
    private readonly Option<bool> noSpecialOption = Opt.Flag("--no-special", "leaves out the BOS/EOS tokens the tokenizer adds (tokenizer_config.json), and special tokens from the text of --ids");

    public TokenizeCommand()
        : base("tokenize", "token ids of a text or file, the text of ids, or the tokenizer's speed", "Give one of --text, --file and --ids.")
    {
        Declare([tokenizerOption, textOption, fileOption, idsOption, speedOption, noSpecialOption]);
    }

    protected override int Run(ParseResult parse)
    {
        string dir = parse.GetRequiredValue(tokenizerOption);
        string? text = parse.GetValue(textOption);
        string? file = parse.GetValue(fileOption);
        var ids = parse.GetValue(idsOption) is { Length: > 0 } given ? given : null;
        bool speed = parse.GetValue(speedOption);
        bool special = !parse.GetValue(noSpecialOption);
        PrefixLabException.Check(new object?[] { text, file, ids }.Count(o => o is not null) == 1, "give one of --text T, --file F or --ids \"...\"");
        PrefixLabException.Check(!speed || file is not null, "--speed needs --file F");
        PrefixLabException.Check(file is null || File.Exists(file), $"--file: file not found: '{file}'");
        var tokenizer = Tokenizers.Load(dir);
        if (ids is not null)
        {
            Console.WriteLine(tokenizer.Decode(ids, skipSpecialTokens: !special));
            return 0;
        }
        string input = text ?? File.ReadAllText(file!, Encoding.UTF8);
        var clock = Stopwatch.StartNew();
        var tokens = tokenizer.Encode(input, addSpecialTokens: special);
        double seconds = clock.Elapsed.TotalSeconds;
        if (speed)
        {
            long bytes = Encoding.UTF8.GetByteCount(input);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{tokens.Length:N0} tokens from {bytes:N0} bytes in {seconds:F2} s: {tokens.Length / seconds:N0} tokens/s, {bytes / seconds / 1e6:F2} MB/s"));
            return 0;
        }
        Console.WriteLine(string.Join(' ', tokens));
        return 0;
    }
}
