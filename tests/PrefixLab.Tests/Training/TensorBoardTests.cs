using System.Diagnostics;
using System.Text.Json;
using PrefixLab.Evaluation;
using PrefixLab.Tuning;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Tests.Cli;
using PrefixLab.Training;

namespace PrefixLab.Tests.Training;

/// <summary>
/// TensorBoard event files, read back by tests/python/read_tfevents.py (an independent reader that
/// checks every CRC and decodes the protobufs by hand), against the JSON-lines log of the same run.
/// </summary>
public class TensorBoardTests
{
    [SkippableFact]
    public void Events_repeat_the_log_and_a_run_resumed_after_a_kill_neither_doubles_nor_loses_a_step()
    {
        string dir = TestModels.TempDirectory();
        string checkpoint = Path.Combine(dir, "run.ckpt.safetensors");
        string log = Path.Combine(dir, "run.log.jsonl");
        string board = Path.Combine(dir, "run.tb");
        // Another run (another seed) shares the folder: its file must come through untouched.
        Train(5, null, null, board, seed: 4);
        string foreign = Assert.Single(Directory.GetFiles(board));
        byte[] foreignBytes = File.ReadAllBytes(foreign);
        Train(10, checkpoint, log, board);
        // The second session runs on to step 30, but a kill after it logged step 30 leaves step 20's
        // checkpoint (taken here while the run is at step 25) and half a record at the end of each log.
        Train(30, checkpoint, log, board, resume: true, progress: p =>
        {
            if (p.Step == 25)
            {
                File.Copy(checkpoint, checkpoint + ".20");
            }
        });
        File.Copy(checkpoint + ".20", checkpoint, overwrite: true);
        File.AppendAllText(log, "{\"step\": 35, \"lo");
        string second = Directory.GetFiles(board).Order(StringComparer.Ordinal).Last();
        File.AppendAllText(second, "\u0010\0\0\0\0\0\0\0abc");
        Train(40, checkpoint, log, board, resume: true);

        string reference = TestModels.TempDirectory();
        Train(40, null, Path.Combine(reference, "run.log.jsonl"), Path.Combine(reference, "run.tb"));

        var lines = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([5L, 10, 15, 20, 25, 30, 35, 40], lines.Select(l => l.GetProperty("step").GetInt64()));
        var uninterrupted = File.ReadAllLines(Path.Combine(reference, "run.log.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        foreach (var field in new[] { "loss", "grad_norm", "lr" })
        {
            Assert.Equal(uninterrupted.Select(l => l.GetProperty(field).GetDouble()), lines.Select(l => l.GetProperty(field).GetDouble()));
        }

        Assert.Equal(foreignBytes, File.ReadAllBytes(foreign));
        var files = ReadEvents(board).Where(f => f.GetProperty("name").GetString() != Path.GetFileName(foreign)).ToList();
        Assert.Equal(3, files.Count); // one a session; the second's steps 25 and 30 (and its torn tail) dropped
        Assert.Equal([0L, 15, 20], files[1].GetProperty("events").EnumerateArray().Select(e => e.GetProperty("step").GetInt64()));
        var scalars = files.SelectMany(f => f.GetProperty("events").EnumerateArray())
            .SelectMany(e => e.GetProperty("scalars").EnumerateObject().Select(s => (Tag: s.Name, Step: e.GetProperty("step").GetInt64(), Value: s.Value.GetDouble())))
            .ToList();
        Assert.Equal(scalars.Count, scalars.Select(s => (s.Tag, s.Step)).Distinct().Count()); // no step twice
        Assert.Equal(Expected(lines).Order(), scalars.Order());
        Assert.Equal(Expected(uninterrupted).Order(), ReadScalars(Path.Combine(reference, "run.tb")).Order());
        Assert.Contains(scalars, s => s.Tag == "eval/accuracy" && s.Step == 30);
        Assert.Contains(scalars, s => s.Tag == "train/grad_norm" && s.Step == 35);

        foreach (var file in files)
        {
            var first = file.GetProperty("events")[0];
            Assert.Equal(EventFiles.FileVersion, first.GetProperty("file_version").GetString());
            Assert.InRange(first.GetProperty("wall_time").GetDouble(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 60);
        }
        var texts = files.SelectMany(f => f.GetProperty("events").EnumerateArray()).SelectMany(e => e.GetProperty("texts").EnumerateObject()).ToList();
        var settings = Assert.Single(texts);
        Assert.Equal("hyperparameters/text_summary", settings.Name);
        Assert.Equal("text", settings.Value.GetProperty("plugin").GetString());
        Assert.Contains("| seed | 3 |", settings.Value.GetProperty("text").GetString());
        Assert.Contains("| config.Width | 32 |", settings.Value.GetProperty("text").GetString());

        // A fresh run of the same settings replaces this run's files, and again leaves the other run's.
        Train(5, null, null, board);
        Assert.Equal(2, Directory.GetFiles(board).Length);
        Assert.Equal(foreignBytes, File.ReadAllBytes(foreign));
    }

    [Fact]
    public void The_gradient_norm_is_the_same_whether_clipping_measures_it_or_not()
    {
        string clipped = Path.Combine(TestModels.TempDirectory(), "a.log.jsonl");
        string unclipped = Path.Combine(TestModels.TempDirectory(), "b.log.jsonl");
        Train(1, null, clipped, null, logEvery: 1);
        Train(1, null, unclipped, null, logEvery: 1, gradClip: 0);
        double a = JsonDocument.Parse(File.ReadAllText(clipped)).RootElement.GetProperty("grad_norm").GetDouble();
        double b = JsonDocument.Parse(File.ReadAllText(unclipped)).RootElement.GetProperty("grad_norm").GetDouble();
        Assert.True(a > 0);
        Assert.Equal(a, b, 5);
    }

    [Fact]
    public void Pretrain_writes_events_beside_its_output_or_where_told_or_not_at_all()
    {
        string dir = TestModels.TempDirectory();
        string[] run = ["pretrain", "--task", "ascending", "--iters", "2", "--log-every", "1", "--width", "8", "--batch", "4"];
        var (code, _, stderr) = CliTests.Run([.. run, "--out", Path.Combine(dir, "a.safetensors")]);
        Assert.True(code == 0, stderr);
        Assert.Single(Directory.GetFiles(Path.Combine(dir, "a.tb"), EventFiles.Prefix + "*"));

        (code, _, stderr) = CliTests.Run([.. run, "--out", Path.Combine(dir, "b.safetensors"), "--log-dir", Path.Combine(dir, "runs", "b")]);
        Assert.True(code == 0, stderr);
        Assert.Single(Directory.GetFiles(Path.Combine(dir, "runs", "b"), EventFiles.Prefix + "*"));
        Assert.False(Directory.Exists(Path.Combine(dir, "b.tb")));

        (code, _, stderr) = CliTests.Run([.. run, "--out", Path.Combine(dir, "c.safetensors"), "--no-tensorboard"]);
        Assert.True(code == 0, stderr);
        Assert.False(Directory.Exists(Path.Combine(dir, "c.tb")));
        Assert.True(File.Exists(Path.Combine(dir, "c.log.jsonl")));

        (code, _, stderr) = CliTests.Run([.. run, "--out", Path.Combine(dir, "d.safetensors"), "--no-tensorboard", "--log-dir", dir]);
        Assert.Equal(2, code);
        Assert.Contains("--log-dir and --no-tensorboard exclude each other", stderr);
    }

    /// <summary>The (tag, step, value) scalars a JSON-lines log's records should appear as, in float32 as events hold them.</summary>
    private static IEnumerable<(string Tag, long Step, double Value)> Expected(IEnumerable<JsonElement> lines)
    {
        foreach (var line in lines)
        {
            long step = line.GetProperty("step").GetInt64();
            foreach (var (tag, field) in TensorBoardLog.Tags)
            {
                var path = field.Split('.');
                if (line.TryGetProperty(path[0], out var value) && (path.Length == 1 || value.TryGetProperty(path[1], out value)))
                {
                    yield return (tag, step, (float)value.GetDouble());
                }
            }
        }
    }

    private static List<(string Tag, long Step, double Value)> ReadScalars(string board) =>
        [.. ReadEvents(board).SelectMany(f => f.GetProperty("events").EnumerateArray())
            .SelectMany(e => e.GetProperty("scalars").EnumerateObject().Select(s => (s.Name, e.GetProperty("step").GetInt64(), s.Value.GetDouble())))];

    /// <summary>The files of <paramref name="board"/> as read_tfevents.py decodes them (it fails on any bad CRC or stray byte).</summary>
    private static List<JsonElement> ReadEvents(string board)
    {
        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        string script = TestModels.AboveTestBinaries(Path.Combine("tests", "python", "read_tfevents.py"), File.Exists);
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo(python, [script, board]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SkipException("needs python3 to read the event files independently");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"read_tfevents.py: {stderr.Result}");
            return [.. JsonDocument.Parse(stdout).RootElement.GetProperty("files").EnumerateArray()];
        }
    }

    private static void Train(int steps, string? checkpoint, string? log, string? board, bool resume = false, int logEvery = 5, double gradClip = 1.0, Action<TrainingProgress>? progress = null, ulong seed = 3)
    {
        var task = TaskRegistry.Default.Get("ascending");
        var layout = SequenceLayout.For(task, 1);
        using var model = new Gpt(new GptConfig(11, layout.ContextLength, 1, 1, 32), 3);
        var options = new TrainOptions
        {
            Iterations = steps,
            BatchSize = 8,
            Seed = seed,
            CheckpointPath = checkpoint,
            CheckpointEvery = 10,
            Resume = resume,
            LogPath = log,
            LogEvery = logEvery,
            EvalEvery = logEvery == 5 ? 10 : 0,
            GradClip = gradClip,
            TensorBoardDir = board,
        };
        Trainer.Run(MethodTraining.Full(model, task, layout, options), options, progress, evaluate: () => Evaluator.Evaluate(model, task, 1, samples: 20));
    }
}
