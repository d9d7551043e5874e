using System.Diagnostics;
using PrefixLab.Interop;

namespace PrefixLab.Tests.Cli;

/// <summary>Runs the real command-line app as a process, as a user would.</summary>
public class CliTests
{
    [Fact]
    public void A_truncated_model_file_gives_one_line_and_exit_code_2()
    {
        string path = Path.Combine(TestModels.TempDirectory(), "model.safetensors");
        using var model = TestModels.Create();
        ModelFile.Save(path, model, new ModelInfo(model.Config, 1));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var (code, stdout, stderr) = Run("eval", "--model", path, "--task", "ascending");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("not a valid safetensors file", line);
        Assert.Contains("truncated", line);
    }

    [Theory]
    [InlineData("eval --model none.safetensors --task ascending", "file not found")]
    [InlineData("pretrain --task reverse --out x.safetensors", "unknown task 'reverse'")]
    [InlineData("pretrain --task ascending --out x.safetensors --iters many", "--iters needs a whole number")]
    [InlineData("pretrain --task ascending --out x.safetensors --width 0", "--width must be between")]
    [InlineData("pretrain --task ascending --out x.safetensors --widht 64", "unknown option --widht")]
    [InlineData("pretrain --task ascending --out x.safetensors --keep-best", "needs an evaluation interval (--eval-every N)")]
    [InlineData("eval --model none.safetensors --task ascending --split train", "--split must be test or validation")]
    [InlineData("curves none.log.jsonl --out c.png --metric speed", "--metric must be accuracy, validation or loss (got 'speed')")]
    [InlineData("frobnicate", "unknown command 'frobnicate'")]
    [InlineData("reproduce --profile huge", "unknown profile 'huge'")]
    [InlineData("reproduce --only nb99", "no spec named 'nb99'")]
    public void Bad_input_gives_one_line_and_exit_code_2(string args, string expected)
    {
        var (code, _, stderr) = Run(args.Split(' '));
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
    }

    [Fact]
    public void Pretrain_then_eval_json_round_trip()
    {
        string dir = TestModels.TempDirectory();
        string path = Path.Combine(dir, "model.safetensors");
        var (code, _, stderr) = Run("pretrain", "--task", "plus1", "--iters", "30", "--width", "16", "--out", path);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(path));
        Assert.True(File.Exists(Path.Combine(dir, "model.ckpt.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir, "model.log.jsonl")));

        (code, var stdout, stderr) = Run("eval", "--model", path, "--task", "plus1", "--samples", "50", "--json");
        Assert.True(code == 0, stderr);
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        Assert.Equal("plus1", json.RootElement.GetProperty("task").GetString());
        Assert.Equal(50, json.RootElement.GetProperty("samples").GetInt32());
        // The same 50 test lists decoded again one at a time, each answer its list plus one.
        var (model, _) = PrefixLab.Interop.ModelFile.Load(path);
        using (model)
        {
            model.eval();
            var inputs = PrefixLab.Evaluation.TestSet.Draw(PrefixLab.Tasks.TaskRegistry.Default.Get("plus1"), 50, 0).Inputs;
            double expected = GreedyReference.Accuracy(model, 1, inputs, list => [.. list.Select(d => d + 1)]);
            Assert.Equal(expected / 100, json.RootElement.GetProperty("accuracy").GetDouble(), 9);
            Assert.Equal(expected / 2, json.RootElement.GetProperty("correct").GetInt32());
        }
    }

    internal static (int Code, string Stdout, string Stderr) Run(params string[] args) => RunIn(null, args);

    /// <summary>Runs the app in <paramref name="directory"/> (null: the test's own), as a user there would.</summary>
    internal static (int Code, string Stdout, string Stderr) RunIn(string? directory, params string[] args)
    {
        using var process = StartIn(directory, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs the app with <paramref name="environment"/> added to the test's own.</summary>
    internal static (int Code, string Stdout, string Stderr) RunWith(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        using var process = StartIn(null, args, environment);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts the app with <paramref name="args"/>, its output redirected.</summary>
    internal static Process Start(params string[] args) => StartIn(null, args);

    private static Process StartIn(string? directory, string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        string app = Path.Combine(AppContext.BaseDirectory, "PrefixLab.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory ?? "" };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        start.ArgumentList.Add(app);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        return Process.Start(start)!;
    }
}
