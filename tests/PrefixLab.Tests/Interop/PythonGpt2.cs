using System.Diagnostics;
using System.Text.Json;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// Runs tests/python/make_gpt2.py, the independent PyTorch implementation of GPT-2 that writes test
/// checkpoints in the Hugging Face layout with reference outputs. Tests that need it are skipped,
/// with the reason, when no Python with torch is found (.ci/run installs Debian's python3-torch).
/// </summary>
internal static class PythonGpt2
{
    private static readonly Lazy<string?> Interpreter = new(FindInterpreter);
    private static readonly Lazy<string> Small = new(() => Make("small"));
    private static readonly Lazy<string> Sharded = new(() => Make("sharded", "--shards", "3", "--bare", "--buffers", "--lm-head", "--f16", "--seed", "7"));
    private static readonly Lazy<string> Pickled = new(() => Make("pickled", "--bin", "--buffers", "--lm-head"));

    /// <summary>A single-file checkpoint (2 layers, width 32, vocabulary 300) with reference outputs.</summary>
    public static string SmallCheckpoint => Small.Value;

    /// <summary>The same shape in float16, in three shards with an index, bare names, mask buffers and a stored lm_head.</summary>
    public static string ShardedCheckpoint => Sharded.Value;

    /// <summary>
    /// <see cref="SmallCheckpoint"/>'s weights and adapters saved by torch.save (<c>pytorch_model.bin</c>,
    /// <c>adapter_model.bin</c>), with the mask buffers and a tied lm_head sharing the embedding's storage.
    /// </summary>
    public static string PickledCheckpoint => Pickled.Value;

    /// <summary>Skips the calling test unless Python with torch is available.</summary>
    public static void SkipUnlessAvailable() =>
        Skip.If(Interpreter.Value is null, "needs python3 with torch (Debian: apt-get install python3-torch); set PREFIXLAB_PYTHON to choose the interpreter");

    /// <summary>The reference outputs the script wrote beside a checkpoint.</summary>
    public static JsonElement Reference(string checkpoint) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "reference.json"))).RootElement;

    /// <summary>Logits (flattened) that the script's own GPT-2 computes, optionally with a PEFT adapter.</summary>
    public static float[] Logits(string checkpoint, IEnumerable<long> tokens, string? adapter = null) =>
        Continue(checkpoint, tokens, adapter, 0).Logits;

    /// <summary>
    /// The script's logits of <paramref name="tokens"/> (flattened, the tokens' rows only) with an optional
    /// PEFT adapter, and its greedy continuation by <paramref name="newTokens"/> tokens with the smallest
    /// gap between the best and the second-best logit along the way.
    /// </summary>
    public static (float[] Logits, long[] New, double Margin) Continue(string checkpoint, IEnumerable<long> tokens, string? adapter, int newTokens)
    {
        var args = new List<string> { "logits", checkpoint, "--tokens", string.Join(' ', tokens), "--greedy", newTokens.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (adapter is not null)
        {
            args.AddRange(["--adapter", adapter]);
        }
        using var json = JsonDocument.Parse(Run(args));
        var root = json.RootElement;
        double margin = root.GetProperty("margin").ValueKind == JsonValueKind.Number ? root.GetProperty("margin").GetDouble() : double.PositiveInfinity;
        return (HuggingFaceGpt2Tests.Floats(root.GetProperty("logits")), HuggingFaceGpt2Tests.Ids(root.GetProperty("new")), margin);
    }

    /// <summary>Runs the script with <paramref name="args"/> (a command and its options) and returns its output.</summary>
    public static string Script(params string[] args)
    {
        SkipUnlessAvailable();
        return Run(args);
    }

    private static string Make(string name, params string[] options)
    {
        SkipUnlessAvailable();
        string dir = Path.Combine(TestModels.TempDirectory(), name);
        Run(["make", dir, .. options]);
        return dir;
    }

    private static string Run(IEnumerable<string> args) => RunScript("make_gpt2.py", args);

    /// <summary>Runs tests/python/<paramref name="script"/> with <paramref name="args"/> and returns its output; a failure fails the test.</summary>
    internal static string RunScript(string script, IEnumerable<string> args)
    {
        SkipUnlessAvailable();
        var start = new ProcessStartInfo(Interpreter.Value!) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(TestModels.AboveTestBinaries(Path.Combine("tests", "python", script), File.Exists));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{script} failed: {stderr.Result}");
        return stdout;
    }

    /// <summary>
    /// PREFIXLAB_PYTHON, else Debian's /usr/bin/python3 (where python3-torch installs, even when another
    /// python3 comes first on the PATH), else python3 on the PATH: the first that imports torch.
    /// </summary>
    private static string? FindInterpreter()
    {
        string?[] candidates = [Environment.GetEnvironmentVariable("PREFIXLAB_PYTHON"), "/usr/bin/python3", "python3"];
        foreach (var candidate in candidates.OfType<string>())
        {
            try
            {
                var start = new ProcessStartInfo(candidate, ["-c", "import torch"]) { RedirectStandardError = true, RedirectStandardOutput = true };
                using var process = Process.Start(start);
                if (process is not null && process.WaitForExit(60_000) && process.ExitCode == 0)
                {
                    return candidate;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed: try the next
            }
        }
        return null;
    }
}
