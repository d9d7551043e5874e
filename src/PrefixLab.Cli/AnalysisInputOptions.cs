using PrefixLab.Evaluation;
using PrefixLab.Tasks;

namespace PrefixLab.Cli;

/// <summary>
/// Which sequences an analysis command runs on, as its options say: one <c>--input</c> list, or
/// <c>--samples</c> test inputs of <c>--task</c> (by default the task the adapter or model was trained on).
/// </summary>
internal sealed record AnalysisInputOptions(string? Task, string? Input, int Samples, ulong Seed)
{
    public static AnalysisInputOptions Read(Arguments args, int defaultSamples) =>
        new(args.Optional("task"), args.Optional("input"), args.Int("samples", defaultSamples, 1, 100_000), args.Seed("seed", 0));

    /// <summary>The input lists and how many tokens to generate after each (the task's output length, else the input's length).</summary>
    public (IReadOnlyList<int[]> Inputs, int NewTokens) Resolve(string? trainedTask)
    {
        var task = (Task ?? (Input is null ? trainedTask : null)) is { } name ? TaskRegistry.Default.Get(name) : null;
        if (Input is not null)
        {
            var tokens = MethodSettings.ParseTokens(Input).ToArray();
            return ([tokens], task?.OutputLength ?? tokens.Length);
        }
        PrefixLabException.Check(task is not null, "give --task T or --input \"2 6 0 1 4 6 3 0 1 2\" (the files name no task)");
        return (TestSet.Draw(task!, Samples, Seed).Inputs, task!.OutputLength);
    }
}
