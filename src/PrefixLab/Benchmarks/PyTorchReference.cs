using System.Diagnostics;
using System.Text.Json;

namespace PrefixLab.Benchmarks;

/// <summary>What the PyTorch reference (<c>scripts/bench-pytorch.py</c>) measured on the same machine.</summary>
/// <param name="Nb03TrainMs">Median notebook-03 training step (float32), ms.</param>
/// <param name="Nb03EvalMsPerSample">Greedy evaluation of the notebook-03 model as the companion code does it, ms per sample.</param>
/// <param name="Torch">The torch version it ran on.</param>
public sealed record ReferenceSpeed(double Nb03TrainMs, double Nb03EvalMsPerSample, string Torch);

/// <summary>Runs the PyTorch reference script, so that a benchmark run and its reference share the machine's moment.</summary>
public static class PyTorchReference
{
    /// <summary>
    /// Runs <paramref name="script"/> with <paramref name="python"/> (<c>--json --steps N --threads T</c>)
    /// and reads its one JSON line; a missing interpreter or torch, or a failed run, is a one-line error.
    /// </summary>
    public static ReferenceSpeed Run(string python, string script, int steps, int threads)
    {
        PrefixLabException.Check(File.Exists(script), $"no reference script at '{script}'");
        var start = new ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { script, "--json", "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new PrefixLabException($"could not start '{python}'");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PrefixLabException($"could not start '{python}' for the reference: {e.Message}");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            string lastError = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";
            PrefixLabException.Check(process.ExitCode == 0, $"the reference '{script}' failed (exit {process.ExitCode}): {lastError}");
            try
            {
                using var json = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
                var root = json.RootElement;
                return new ReferenceSpeed(root.GetProperty("nb03_train_ms").GetDouble(), root.GetProperty("nb03_eval_ms_per_sample").GetDouble(), root.GetProperty("torch").GetString() ?? "");
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new PrefixLabException($"the reference '{script}' printed no result line: {e.Message}");
            }
        }
    }
}
