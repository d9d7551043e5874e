namespace PrefixLab.Cli;

/// <summary>Where a run keeps its files beside its output: <c>model.ckpt.safetensors</c>, <c>model.log.jsonl</c>.</summary>
internal static class RunFiles
{
    public static string Checkpoint(string output) => Stem(output) + ".ckpt.safetensors";

    public static string Log(string output) => Stem(output) + ".log.jsonl";

    private static string Stem(string output) =>
        output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? output[..^".safetensors".Length] : output;
}
