using PrefixLab.Training;
using PrefixLab.Util;

namespace PrefixLab.Cli;

/// <summary>
/// Shows training progress on standard error: one line rewritten in place on a terminal, or a line
/// every ten seconds when standard error goes to a file.
/// </summary>
internal sealed class ProgressPrinter(string label)
{
    private readonly bool terminal = !Console.IsErrorRedirected;
    private DateTime lastLine = DateTime.MinValue;

    public void Report(TrainingProgress p)
    {
        bool last = p.Step == p.Total;
        if (!terminal && !last && DateTime.UtcNow - lastLine < TimeSpan.FromSeconds(10))
        {
            return;
        }
        lastLine = DateTime.UtcNow;
        string line = $"{label} step {p.Step}/{p.Total}  loss {p.Loss:F4}  {p.StepsPerSecond:F1} it/s  elapsed {Durations.Format(p.Elapsed)}  ETA {Durations.Format(p.Remaining)}";
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
