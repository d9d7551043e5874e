using System.Collections.Concurrent;
using System.Text.Json;
using PrefixLab.Tests.Interop;

namespace PrefixLab.Tests.Llama;

/// <summary>
/// Runs tests/python/make_llama.py, the independent PyTorch Llama (llama_ref.py) that writes random
/// Hugging Face checkpoints with float64 reference logits and cached greedy continuations. Each set of
/// options is made once per test run. Tests that need it are skipped, with the reason, when no Python
/// with torch is found.
/// </summary>
internal static class PythonLlama
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Made = new(StringComparer.Ordinal);

    /// <summary>Skips the calling test unless Python with torch is available.</summary>
    public static void SkipUnlessAvailable() => PythonGpt2.SkipUnlessAvailable();

    /// <summary>
    /// A checkpoint made with <paramref name="options"/> (make_llama.py's, space-separated; empty for the
    /// default: 2 layers, width 64, 4 query heads over 2 key/value heads, vocabulary 300).
    /// </summary>
    public static string Checkpoint(string options = "")
    {
        SkipUnlessAvailable();
        return Made.GetOrAdd(options, o => new Lazy<string>(() =>
        {
            string dir = Path.Combine(TestModels.TempDirectory(), "llama");
            PythonGpt2.RunScript("make_llama.py", ["make", dir, .. o.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
            return dir;
        })).Value;
    }

    /// <summary>The reference outputs the script wrote beside a checkpoint.</summary>
    public static JsonElement Reference(string checkpoint) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "reference.json"))).RootElement;

    /// <summary>The token ids of a reference entry.</summary>
    public static long[] Ids(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetInt64())];

    /// <summary>The float64 values of a reference entry.</summary>
    public static double[] Doubles(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetDouble())];

    /// <summary>A copy of <paramref name="checkpoint"/> (config and weights, no reference) to break on purpose.</summary>
    public static string Copy(string checkpoint)
    {
        string dir = Directory.CreateDirectory(Path.Combine(TestModels.TempDirectory(), "copy")).FullName;
        foreach (var file in Directory.GetFiles(checkpoint))
        {
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }
        return dir;
    }
}
