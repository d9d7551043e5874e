using System.Text.Json;
using PrefixLab.Evaluation;
using static TorchSharp.torch;

namespace PrefixLab.Training;

/// <summary>
/// The weights of a run that scored best on the validation split so far, with the step and the score
/// (early stopping without stopping: the run goes on, and ends with these weights). A later score that
/// ties replaces them: on tasks that saturate at 100% the longer-trained weights are the safer choice.
/// </summary>
public sealed class BestWeights : IDisposable
{
    private const string TensorPrefix = "best.";
    private const string MetadataKey = "best";
    private Dictionary<string, Tensor>? snapshot;

    /// <summary>The step the kept weights were taken at (0 when none are kept yet).</summary>
    public long Step { get; private set; }

    /// <summary>Their validation score, or null when none are kept yet.</summary>
    public EvalResult? Validation { get; private set; }

    /// <summary>Keeps a copy of <paramref name="state"/> when <paramref name="validation"/> ties or beats the kept score; says whether it did.</summary>
    public bool Offer(long step, EvalResult validation, IReadOnlyDictionary<string, Tensor> state)
    {
        if (Validation is not null && validation.Accuracy < Validation.Accuracy)
        {
            return false;
        }
        using (no_grad())
        {
            Replace(state.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone(), StringComparer.Ordinal));
        }
        Step = step;
        Validation = validation;
        return true;
    }

    /// <summary>Copies the kept weights into <paramref name="state"/> (nothing happens when none are kept).</summary>
    public void CopyTo(IReadOnlyDictionary<string, Tensor> state)
    {
        if (snapshot is null)
        {
            return;
        }
        using (no_grad())
        {
            foreach (var (name, target) in state)
            {
                target.copy_(snapshot[name]);
            }
        }
    }

    /// <summary>Adds the kept weights and their score to a checkpoint's tensors and metadata.</summary>
    internal void AddTo(Dictionary<string, Tensor> tensors, Dictionary<string, string> metadata)
    {
        if (snapshot is null || Validation is null)
        {
            return;
        }
        foreach (var (name, value) in snapshot)
        {
            tensors[TensorPrefix + name] = value;
        }
        metadata[MetadataKey] = JsonSerializer.Serialize(new BestRecord(Step, Validation));
    }

    /// <summary>
    /// Takes the kept weights back from a checkpoint's tensors and metadata; a checkpoint without them
    /// leaves nothing kept.
    /// </summary>
    internal void ReadFrom(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string> metadata, string path)
    {
        if (!metadata.TryGetValue(MetadataKey, out var text))
        {
            return;
        }
        var record = JsonSerializer.Deserialize<BestRecord>(text)
            ?? throw new PrefixLabException($"checkpoint '{path}' has an unreadable best-weights record");
        Replace(tensors.Where(kv => kv.Key.StartsWith(TensorPrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[TensorPrefix.Length..], kv => kv.Value, StringComparer.Ordinal));
        Step = record.Step;
        Validation = record.Validation;
    }

    /// <summary>Checks that the kept weights cover <paramref name="state"/> in its shapes.</summary>
    internal void CheckCovers(IReadOnlyDictionary<string, Tensor> state, string path)
    {
        if (snapshot is null)
        {
            return;
        }
        foreach (var (name, target) in state)
        {
            PrefixLabException.Check(snapshot.TryGetValue(name, out var kept) && kept.shape.SequenceEqual(target.shape),
                $"checkpoint '{path}' lacks best-weights tensor '{name}' or has it in another shape");
        }
    }

    private void Replace(Dictionary<string, Tensor>? tensors)
    {
        if (snapshot is not null)
        {
            foreach (var old in snapshot.Values)
            {
                old.Dispose();
            }
        }
        snapshot = tensors;
    }

    /// <inheritdoc />
    public void Dispose() => Replace(null);

    private sealed record BestRecord(long Step, EvalResult Validation);
}
