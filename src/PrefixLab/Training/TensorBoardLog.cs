using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using PrefixLab.Interop;
using Tensorboard;

namespace PrefixLab.Training;

/// <summary>
/// The run's log as TensorBoard event files, beside the JSON-lines log and with the same numbers: each
/// log line's values become scalars of its step (<see cref="Tags"/>), and the run's settings a text
/// summary (<see cref="HyperparametersTag"/>). Each session writes a new file, named after the run
/// (a hash of its fingerprint): before it does, a fresh run (step 0) removes the files of an earlier
/// run of the same settings in the folder, and a resumed run drops their events past the step it
/// resumes from, so no step appears twice. Files of other runs are never touched.
/// </summary>
public sealed class TensorBoardLog : IDisposable
{
    /// <summary>The text summary's tag (the text plugin shows it as <c>hyperparameters/text_summary</c>).</summary>
    public const string HyperparametersTag = "hyperparameters";

    /// <summary>Scalar tags and the JSON-lines log field each repeats.</summary>
    public static readonly IReadOnlyDictionary<string, string> Tags = new Dictionary<string, string>
    {
        ["train/loss"] = "loss",
        ["train/learning_rate"] = "lr",
        ["train/grad_norm"] = "grad_norm",
        ["eval/accuracy"] = "eval.accuracy",
        ["validation/accuracy"] = "validation.accuracy",
    };

    private static int sessions;
    private readonly FileStream stream;

    /// <summary>
    /// Opens a new event file in <paramref name="directory"/> for the run <paramref name="fingerprint"/>
    /// (<see cref="TrainingJob.Fingerprint"/>) that starts at <paramref name="startStep"/>, after
    /// dropping what earlier sessions of it wrote past that step. The settings
    /// <paramref name="hyperparameters"/> are written unless a kept file already has them.
    /// </summary>
    public TensorBoardLog(string directory, string fingerprint, long startStep, IReadOnlyList<(string Name, string Value)> hyperparameters)
    {
        Directory.CreateDirectory(directory);
        // TensorBoard reads any file whose name holds "tfevents"; the suffix tells this run's files from others'.
        string suffix = ".prefixlab-" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(fingerprint)))[..12];
        var kept = EventFiles.Truncate(directory, suffix, startStep == 0 ? -1 : startStep);
        string name = string.Create(CultureInfo.InvariantCulture,
            $"{EventFiles.Prefix}{DateTimeOffset.UtcNow.ToUnixTimeSeconds():D10}.{Environment.MachineName}.{Environment.ProcessId}.{Interlocked.Increment(ref sessions)}{suffix}");
        Path = System.IO.Path.Combine(directory, name);
        stream = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        Append(EventFiles.VersionEvent());
        bool hasSettings = kept.Any(e => e.Summary?.Value.Any(v => v.Tag.StartsWith(HyperparametersTag, StringComparison.Ordinal)) == true);
        if (!hasSettings)
        {
            var summary = TorchSharp.torch.utils.tensorboard.Summary.text(HyperparametersTag, Table(hyperparameters));
            Append(new Event { WallTime = EventFiles.Now(), Step = startStep, Summary = summary });
        }
    }

    /// <summary>The event file this session writes.</summary>
    public string Path { get; }

    /// <summary>The run's settings as rows: the job's fingerprint (flattened, when it is JSON) and the loop's options.</summary>
    public static IReadOnlyList<(string Name, string Value)> Hyperparameters(TrainingJob job, TrainOptions options)
    {
        var rows = new List<(string, string)>();
        JsonNode? fingerprint = null;
        try
        {
            fingerprint = JsonNode.Parse(job.Fingerprint);
        }
        catch (System.Text.Json.JsonException)
        {
            rows.Add(("run", job.Fingerprint));
        }
        Flatten(fingerprint, "", rows);
        rows.Add(("iterations", options.Iterations.ToString(CultureInfo.InvariantCulture)));
        rows.Add(("log_every", options.LogEvery.ToString(CultureInfo.InvariantCulture)));
        rows.Add(("eval_every", options.EvalEvery.ToString(CultureInfo.InvariantCulture)));
        rows.Add(("keep_best", options.KeepBest ? "true" : "false"));
        return rows;
    }

    /// <summary>Writes the scalars of one log record (a field the record lacks is skipped).</summary>
    public void Write(RunLogRecord record)
    {
        var summary = new Summary();
        foreach (var (tag, field) in Tags)
        {
            if (record.Value(field) is { } value)
            {
                summary.Value.Add(new Summary.Types.Value { Tag = tag, SimpleValue = (float)value });
            }
        }
        Append(new Event { WallTime = EventFiles.Now(), Step = record.Step, Summary = summary });
    }

    /// <inheritdoc />
    public void Dispose() => stream.Dispose();

    private void Append(Event @event)
    {
        stream.Write(EventFiles.Frame(@event));
        stream.Flush(); // TensorBoard reads the file while the run goes on
    }

    private static string Table(IReadOnlyList<(string Name, string Value)> rows)
    {
        var text = new StringBuilder("| setting | value |\n|---|---|\n");
        foreach (var (name, value) in rows)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {name} | {value.Replace("|", "\\|", StringComparison.Ordinal)} |\n");
        }
        return text.ToString();
    }

    private static void Flatten(JsonNode? node, string prefix, List<(string, string)> rows)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj)
                {
                    Flatten(value, prefix.Length == 0 ? key : $"{prefix}.{key}", rows);
                }
                break;
            case null when prefix.Length > 0:
                rows.Add((prefix, "null"));
                break;
            case JsonArray or JsonValue:
                rows.Add((prefix, node.ToJsonString()));
                break;
        }
    }
}
