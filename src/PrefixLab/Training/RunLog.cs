using System.Globalization;
using System.Text.Json;
using PrefixLab.Util;

namespace PrefixLab.Training;

/// <summary>
/// A JSON-lines log of a run: one object per logged interval. A resumed run continues it, after
/// dropping the lines of steps past the one it resumes from (they are trained again) and any line a
/// killed run left half-written.
/// </summary>
public sealed class RunLog : IDisposable
{
    // One mapping for writing and reading: snake_case names, no "eval" on lines without one, and an
    // evaluation missing a field is an error rather than zeros.
    private static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    private readonly StreamWriter? writer;

    /// <summary>
    /// Opens <paramref name="path"/> (nothing is logged when it is null) for a run that starts after
    /// <paramref name="resumeStep"/> steps. A fresh run (0) starts the log afresh. A resumed run keeps
    /// the lines up to its checkpoint's step and appends after them: the steps a killed run logged past
    /// its last checkpoint are trained again, and would otherwise be in the log twice. The cut is written
    /// atomically, so a kill during it leaves the old log or the cut one.
    /// </summary>
    public RunLog(string? path, long resumeStep)
    {
        if (path is null)
        {
            return;
        }
        FileIdentity.CheckWritableFile(path, $"log '{path}'");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        bool append = resumeStep > 0 && File.Exists(path);
        if (append)
        {
            var kept = new List<string>();
            foreach (string line in File.ReadLines(path))
            {
                // A line cut short by a kill, or written after the checkpoint, is dropped.
                if (TryParse(line) is { } entry && entry.Step <= resumeStep)
                {
                    kept.Add(line);
                    LastLoss = entry.Loss;
                }
            }
            AtomicFile.WriteText(path, string.Concat(kept.Select(l => l + "\n")));
        }
        writer = new StreamWriter(path, append) { AutoFlush = true };
    }

    /// <summary>The mean loss on the last line a resumed run kept (NaN when it kept none).</summary>
    public double LastLoss { get; } = double.NaN;

    /// <summary>Appends one record.</summary>
    public void Write(RunLogRecord record)
    {
        writer?.WriteLine(JsonSerializer.Serialize(new
        {
            step = record.Step,
            total = record.Total,
            loss = record.Loss,
            lr = record.LearningRate,
            grad_norm = record.GradNorm,
            steps_per_s = record.StepsPerSecond,
            elapsed_s = record.ElapsedSeconds,
            time = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            eval = record.Eval,
            validation = record.Validation,
        }, Options));
    }

    /// <summary>
    /// Reads a run's log back: each line's step, mean loss and evaluation (if the line has one). A
    /// missing file or a line that is not such a record fails with the file and line number.
    /// </summary>
    public static IReadOnlyList<RunLogEntry> Read(string path)
    {
        PrefixLabException.Check(File.Exists(path), $"no such log file: {path}");
        var entries = new List<RunLogEntry>();
        int number = 0;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }
            try
            {
                entries.Add(Parse(line));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new PrefixLabException($"{path}, line {number}: not a training log record ({ex.Message.Split('\n')[0]})");
            }
        }
        return entries;
    }

    private static RunLogEntry Parse(string line)
    {
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        double loss = root.TryGetProperty("loss", out var l) ? l.GetDouble() : double.NaN;
        return new RunLogEntry(root.GetProperty("step").GetInt64(), loss, ReadEval(root, "eval"), ReadEval(root, "validation"));
    }

    private static RunLogEntry? TryParse(string line)
    {
        try
        {
            return line.Length == 0 ? null : Parse(line);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    private static Evaluation.EvalResult? ReadEval(JsonElement record, string name) =>
        record.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.Object ? e.Deserialize<Evaluation.EvalResult>(Options) : null;

    /// <inheritdoc />
    public void Dispose() => writer?.Dispose();
}

/// <summary>One line of a run's log.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="Loss">Mean training loss since the previous line (NaN when the line has none).</param>
/// <param name="Eval">The evaluation at this step, if one was taken.</param>
/// <param name="Validation">The validation score at this step, in a run that keeps its best weights.</param>
public sealed record RunLogEntry(long Step, double Loss, Evaluation.EvalResult? Eval, Evaluation.EvalResult? Validation = null);

/// <summary>
/// The numbers of one log line, rounded as the JSON-lines log keeps them; the TensorBoard events repeat
/// exactly these.
/// </summary>
/// <param name="Step">Steps done.</param>
/// <param name="Total">Steps the run goes to.</param>
/// <param name="Loss">Mean training loss since the previous line.</param>
/// <param name="LearningRate">The learning rate of these steps.</param>
/// <param name="GradNorm">Mean gradient norm (before clipping) over these steps.</param>
/// <param name="StepsPerSecond">Rate of this session.</param>
/// <param name="ElapsedSeconds">Time of this session.</param>
/// <param name="Eval">The evaluation at this step, if one was taken.</param>
/// <param name="Validation">The validation score at this step, in a run that keeps its best weights.</param>
public sealed record RunLogRecord(long Step, long Total, double Loss, double? LearningRate, double? GradNorm, double StepsPerSecond, double ElapsedSeconds, Evaluation.EvalResult? Eval, Evaluation.EvalResult? Validation)
{
    /// <summary>The record of a progress report.</summary>
    public static RunLogRecord Of(TrainingProgress progress) => new(
        progress.Step,
        progress.Total,
        Math.Round(progress.Loss, 6),
        double.IsFinite(progress.LearningRate) ? progress.LearningRate : null,
        double.IsFinite(progress.GradNorm) ? Math.Round(progress.GradNorm, 6) : null,
        Math.Round(progress.StepsPerSecond, 3),
        Math.Round(progress.Elapsed.TotalSeconds, 2),
        progress.Eval,
        progress.Validation);

    /// <summary>A field by its name in the log (<c>loss</c>, <c>lr</c>, <c>grad_norm</c>, <c>eval.accuracy</c>, <c>validation.accuracy</c>), or null.</summary>
    public double? Value(string field) => field switch
    {
        "loss" => Loss,
        "lr" => LearningRate,
        "grad_norm" => GradNorm,
        "eval.accuracy" => Eval?.Accuracy,
        "validation.accuracy" => Validation?.Accuracy,
        _ => throw new ArgumentException($"no log field '{field}'", nameof(field)),
    };
}
