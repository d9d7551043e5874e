using PrefixLab.Interop;

namespace PrefixLab.Cli;

/// <summary>
/// One input given as <c>--input "ids"</c> or as <c>--prompt TEXT</c> (GPT-2's BPE, from <c>--tokenizer
/// DIR</c> or the model's directory), shared by the analysis commands.
/// </summary>
internal sealed record PromptOptions(string? Prompt, string? Input, string? TokenizerDir)
{
    public static PromptOptions Read(Arguments args) => new(args.Optional("prompt"), args.Optional("input"), args.Optional("tokenizer"));

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
            return [.. MethodSettings.ParseTokens(Input, "--input")];
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
