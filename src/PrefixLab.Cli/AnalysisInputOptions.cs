using System.CommandLine;
using PrefixLab.Evaluation;
using PrefixLab.Tasks;

namespace PrefixLab.Cli;

/// <summary>
/// Which sequences an analysis command runs on, as its options say: one <c>--input</c> list or
/// <c>--prompt</c> text, or <c>--samples</c> test inputs of <c>--task</c> (by default the task the
/// adapter or model was trained on).
/// </summary>
internal sealed class AnalysisInputOptions(int defaultSamples) : IOptionGroup
{
    /// <summary>Largest <c>--samples</c>: each sample's attention is held for every layer and head.</summary>
    public const int MaxSamples = 100_000;

    private readonly Option<string?> task = Opt.Text("--task", "T", "run on test inputs of T", defaultText: "the task the files were trained on");
    private readonly PromptOptions text = new();
    private readonly Option<int> samples = Opt.Int("--samples", "test inputs", defaultSamples, 1, MaxSamples);
    private readonly Option<ulong> seed = Opt.Seed("--seed", "which test inputs", 0);

    public IEnumerable<Option> Options => [task, .. text.Options, samples, seed];

    public AnalysisInput Read(ParseResult parse) => new(parse.GetValue(task), text.Read(parse), parse.GetValue(samples), parse.GetValue(seed));
}

/// <summary>What <see cref="AnalysisInputOptions"/> read.</summary>
internal sealed record AnalysisInput(string? Task, PromptInput Text, int Samples, ulong Seed)
{
    /// <summary>The input lists and how many tokens to generate after each (the task's output length, else the input's length).</summary>
    public (IReadOnlyList<int[]> Inputs, int NewTokens) Resolve(string? trainedTask, string modelPath)
    {
        var task = (Task ?? (Text.Given ? null : trainedTask)) is { } name ? TaskRegistry.Default.Get(name) : null;
        if (Text.Ids(modelPath) is { } tokens)
        {
            PrefixLabException.Check(tokens.Length > 0, "the input is empty");
            return ([tokens], task?.OutputLength ?? tokens.Length);
        }
        PrefixLabException.Check(task is not null, "give --task T, --input \"2 6 0 1 4 6 3 0 1 2\" or --prompt TEXT (the files name no task)");
        return (TestSet.Draw(task!, Samples, Seed).Inputs, task!.OutputLength);
    }
}
