using PrefixLab.Experiments;
using PrefixLab.Util;

namespace PrefixLab.Cli;

/// <summary>
/// One progress display for a whole reproduction on standard error: experiment k of n, its stage and
/// step, and the ETA of the run; rewritten in place on a terminal, a line every ten seconds (and at
/// each new stage) otherwise.
/// </summary>
internal sealed class EngineProgressPrinter
{
    private readonly bool terminal = !Console.IsErrorRedirected;
    private DateTime lastLine = DateTime.MinValue;
    private string lastStage = "";

    public void Report(EngineProgress p)
    {
        string stage = $"[{p.Index}/{p.Count}] {p.Experiment} · {p.Stage}";
        bool newStage = stage != lastStage;
        if (!terminal && !newStage && DateTime.UtcNow - lastLine < TimeSpan.FromSeconds(10))
        {
            return;
        }
        lastStage = stage;
        lastLine = DateTime.UtcNow;
        string step = p.Training is { } t ? $" · step {t.Step}/{t.Total}, loss {t.Loss:F3}, {t.StepsPerSecond:F1} it/s" : "";
        string line = $"{stage}{step} · elapsed {Durations.Format(p.Elapsed)} · ETA {Durations.Format(p.Remaining)}";
        if (terminal)
        {
            Console.Error.Write($"\r{line}\u001b[K");
        }
        else
        {
            Console.Error.WriteLine(line);
        }
    }

    public void Finish()
    {
        if (terminal)
        {
            Console.Error.WriteLine();
        }
    }
}
