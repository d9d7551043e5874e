using System.Diagnostics;
using System.Globalization;
using PrefixLab.Evaluation;
using PrefixLab.Training;
using PrefixLab.Util;

namespace PrefixLab.Cli;

/// <summary>
/// Shows progress on standard error: one line rewritten in place on a terminal, or a line every ten
/// seconds when standard error goes to a file.
/// </summary>
internal sealed class ProgressPrinter(string label)
{
    private readonly bool terminal = !Console.IsErrorRedirected;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private DateTime lastLine = DateTime.MinValue;

    /// <summary>A training report; one with an evaluation is always shown, on a line of its own.</summary>
    public void Report(TrainingProgress p) =>
        Write($"{label} step {p.Step}/{p.Total}  loss {p.Loss:F4}  {p.StepsPerSecond:F1} it/s  elapsed {Durations.Format(p.Elapsed)}  ETA {Durations.Format(p.Remaining)}"
            + Score("test", p.Eval) + Score("validation", p.Validation),
            p.Step == p.Total || p.Eval is not null || p.Validation is not null);

    /// <summary>A workflow's report: its description (no step) as a line on standard output, a training step as above.</summary>
    public void Report(string description, TrainingProgress? step)
    {
        if (step is null)
        {
            Console.WriteLine(description);
        }
        else
        {
            Report(step);
        }
    }

    private static string Score(string split, EvalResult? e) =>
        e is null ? "" : string.Create(CultureInfo.InvariantCulture, $"  {split} {e.Task} {e.Accuracy:P2} ({e.Correct}/{e.Samples})");

    /// <summary>Progress through a count of rows, timed from this printer's creation.</summary>
    public void Report(int done, int total)
    {
        var elapsed = clock.Elapsed;
        var remaining = done == 0 ? TimeSpan.Zero : elapsed * ((double)(total - done) / done);
        Write(string.Create(CultureInfo.InvariantCulture, $"{label} {done:N0}/{total:N0}  elapsed {Durations.Format(elapsed)}  ETA {Durations.Format(remaining)}"), done == total);
    }

    private void Write(string line, bool last)
    {
        if (!terminal && !last && DateTime.UtcNow - lastLine < TimeSpan.FromSeconds(10))
        {
            return;
        }
        lastLine = DateTime.UtcNow;
        if (terminal)
        {
            Console.Error.Write($"\r{line}\u001b[K");
            if (last)
            {
                Console.Error.WriteLine();
            }
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }
}
