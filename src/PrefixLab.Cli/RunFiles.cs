using System.Globalization;
using PrefixLab.Training;

namespace PrefixLab.Cli;

/// <summary>Where a run keeps its files beside its output: <c>model.ckpt.safetensors</c>, <c>model.log.jsonl</c>.</summary>
internal static class RunFiles
{
    public static string Checkpoint(string output) => Stem(output) + ".ckpt.safetensors";

    public static string Log(string output) => Stem(output) + ".log.jsonl";

    /// <summary>
    /// Adds the checkpoint and log of a run writing <paramref name="output"/> (named after
    /// <paramref name="flag"/>), and its TensorBoard folder when it has one, to <paramref name="plan"/>.
    /// </summary>
    public static OutputPlan AddTo(OutputPlan plan, string flag, string output, string? tensorBoard = null)
    {
        if (output.Length > 0)
        {
            plan.File($"{flag}'s checkpoint", Checkpoint(output)).File($"{flag}'s log", Log(output));
        }
        return tensorBoard is null ? plan : plan.Directory("--log-dir", tensorBoard);
    }

    /// <summary>
    /// "N steps (loss X, T s)", or for a run resumed at its end, that there was nothing left to train
    /// and the last loss its log holds.
    /// </summary>
    public static string Describe(TrainingResult result)
    {
        bool logged = !double.IsNaN(result.FinalLoss);
        return result.ResumedFrom > 0 && result.Steps == result.ResumedFrom
            ? string.Create(CultureInfo.InvariantCulture, $"{result.Steps} steps: the checkpoint already held them all, nothing left to train ({(logged ? $"last logged loss {result.FinalLoss:F4}" : "the log holds no loss")})")
            : string.Create(CultureInfo.InvariantCulture, $"{result.Steps} steps ({(logged ? $"loss {result.FinalLoss:F4}" : "no loss logged")}, {result.Elapsed.TotalSeconds:F0} s)");
    }

    /// <summary>Where a run's TensorBoard event files go unless <c>--log-dir</c> says: <c>model.tb/</c> beside the output.</summary>
    public static string TensorBoard(string output) => Stem(output) + ".tb";

    /// <summary>Says which weights a run that kept its best ends with (nothing for other runs).</summary>
    public static void ReportKept(TrainingResult result)
    {
        if (result.KeptValidation is { } v)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"kept the weights of step {result.KeptStep} (validation {v.Task} {v.Accuracy:P2}, {v.Correct}/{v.Samples}); the checkpoint holds step {result.Steps}'s"));
        }
        else if (result.KeptStep is not null)
        {
            Console.WriteLine($"no evaluation fell in the run: kept the last weights (step {result.KeptStep})");
        }
    }

    private static string Stem(string output) => StemOf(Path.TrimEndingDirectorySeparator(output));

    private static string StemOf(string output) =>
        output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? output[..^".safetensors".Length] : output;
}
