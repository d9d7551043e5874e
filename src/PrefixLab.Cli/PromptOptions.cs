using System.CommandLine;
using PrefixLab.Interop;

namespace PrefixLab.Cli;

/// <summary>
/// One input given as <c>--input "ids"</c> or as <c>--prompt TEXT</c> (tokenized by the tokenizer of
/// <c>--tokenizer DIR</c> or the model's directory: <see cref="Tokenizers.Load"/>), shared by the analysis commands.
/// </summary>
internal sealed class PromptOptions : IOptionGroup
{
    private readonly Option<string?> prompt = Opt.Text("--prompt", "TEXT", "the input as text, tokenized with the model's tokenizer (BOS added as tokenizer_config.json asks)");
    private readonly Option<int[]> input = Opt.TokenIds("--input", "the input as token ids, e.g. \"2 6 0 1 4\"");
    private readonly Option<string?> tokenizer = Opt.Text("--tokenizer", "DIR", "where tokenizer.json (or vocab.json and merges.txt) is", defaultText: "the model directory");

    public IEnumerable<Option> Options => [prompt, input, tokenizer];

    public PromptInput Read(ParseResult parse) =>
        new(parse.GetValue(prompt), parse.GetValue(input) is { Length: > 0 } ids ? ids : null, parse.GetValue(tokenizer));
}

/// <summary>The input that <see cref="PromptOptions"/> read: text, token ids or neither.</summary>
internal sealed record PromptInput(string? Prompt, IReadOnlyList<int>? Input, string? TokenizerDir)
{
    /// <summary>True when <c>--prompt</c> or <c>--input</c> was given.</summary>
    public bool Given => Prompt is not null || Input is not null;

    /// <summary>
    /// The tokenizer of <c>--tokenizer</c>, else of the model's directory when it has one (GPT-2's or a
    /// Llama-family <c>tokenizer.json</c>); null for a PrefixLab model file (digit tasks), whose tokens are their ids.
    /// </summary>
    public ITokenizer? Tokenizer(string modelPath) =>
        TokenizerDir is not null ? Tokenizers.Load(TokenizerDir)
        : Directory.Exists(modelPath) && Tokenizers.Exists(modelPath) ? Tokenizers.Load(modelPath)
        : null;

    /// <summary>The input's token ids, or null when neither option was given.</summary>
    public int[]? Ids(string modelPath)
    {
        PrefixLabException.Check(Prompt is null || Input is null, "give --prompt TEXT or --input \"ids\", not both");
        if (Input is not null)
        {
            return [.. Input];
        }
        if (Prompt is null)
        {
            return null;
        }
        var tokenizer = Tokenizer(modelPath)
            ?? throw new PrefixLabException($"--prompt needs a tokenizer: '{modelPath}' is not a Hugging Face directory with one, give --tokenizer DIR");
        return tokenizer.EncodeSequence(Prompt);
    }
}
