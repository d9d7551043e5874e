using System.CommandLine;
using PrefixLab.Interop;

namespace PrefixLab.Cli;

/// <summary>
/// One input given as <c>--input "ids"</c> or as <c>--prompt TEXT</c> (GPT-2's BPE, from <c>--tokenizer
/// DIR</c> or the model's directory), shared by the analysis commands.
/// </summary>
internal sealed class PromptOptions : IOptionGroup
{
    private readonly Option<string?> prompt = Opt.Text("--prompt", "TEXT", "the input as text, tokenized with GPT-2's BPE");
    private readonly Option<int[]> input = Opt.TokenIds("--input", "the input as token ids, e.g. \"2 6 0 1 4\"");
    private readonly Option<string?> tokenizer = Opt.Text("--tokenizer", "DIR", "where vocab.json and merges.txt (or tokenizer.json) are", defaultText: "the model directory");

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
    /// The GPT-2 tokenizer of <c>--tokenizer</c>, else of the model's directory when it has one; null for
    /// a PrefixLab model file (digit tasks), whose tokens are their ids.
    /// </summary>
    public Gpt2Tokenizer? Tokenizer(string modelPath) =>
        TokenizerDir is not null ? Gpt2Tokenizer.Load(TokenizerDir)
        : Directory.Exists(modelPath) && Gpt2Tokenizer.Exists(modelPath) ? Gpt2Tokenizer.Load(modelPath)
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
            ?? throw new PrefixLabException($"--prompt needs a GPT-2 tokenizer: '{modelPath}' is not a Hugging Face directory, give --tokenizer DIR");
        return tokenizer.Encode(Prompt);
    }
}
