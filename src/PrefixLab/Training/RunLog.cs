using System.Globalization;
using System.Text.Json;

namespace PrefixLab.Training;

/// <summary>A JSON-lines log of a run: one object per logged interval, appended (a resumed run continues it).</summary>
public sealed class RunLog : IDisposable
{
    private static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };

    private readonly StreamWriter? writer;

    /// <summary>Opens <paramref name="path"/> for appending, or logs nothing when it is null.</summary>
    public RunLog(string? path, bool append)
    {
        if (path is null)
        {
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        writer = new StreamWriter(path, append) { AutoFlush = true };
    }

    /// <summary>Appends one progress record.</summary>
    public void Write(TrainingProgress progress)
    {
        writer?.WriteLine(JsonSerializer.Serialize(new
        {
            step = progress.Step,
            total = progress.Total,
            loss = Math.Round(progress.Loss, 6),
            steps_per_s = Math.Round(progress.StepsPerSecond, 3),
            elapsed_s = Math.Round(progress.Elapsed.TotalSeconds, 2),
            time = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            eval = progress.Eval is { } e ? new { task = e.Task, samples = e.Samples, correct = e.Correct, accuracy = e.Accuracy } : null,
        }, Options));
    }

    /// <inheritdoc />
    public void Dispose() => writer?.Dispose();
}
