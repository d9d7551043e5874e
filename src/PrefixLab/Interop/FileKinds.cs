namespace PrefixLab.Interop;

/// <summary>
/// What a PrefixLab safetensors file holds, as its metadata's <c>kind</c> field names it: the one place
/// those names are spelled, so a reader and the writer of a kind cannot disagree.
/// </summary>
public static class FileKinds
{
    /// <summary>The metadata field that names the kind.</summary>
    public const string Key = "kind";

    /// <summary>A whole model (<see cref="ModelFile"/>), pretrained or fully fine-tuned.</summary>
    public const string Model = "model";

    /// <summary>A tuning method's own tensors with its settings and the base model's fingerprint.</summary>
    public const string Adapter = "adapter";

    /// <summary>A training checkpoint: weights, optimizer state and the step it was taken at.</summary>
    public const string Checkpoint = "checkpoint";

    /// <summary>Whether <paramref name="metadata"/> says its file is of <paramref name="kind"/>.</summary>
    public static bool Is(IReadOnlyDictionary<string, string> metadata, string kind) =>
        metadata.TryGetValue(Key, out var value) && value == kind;
}
