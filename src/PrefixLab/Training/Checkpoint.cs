using System.Globalization;
using PrefixLab.Interop;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Training;

/// <summary>
/// A resumable snapshot of a run in one safetensors file, written atomically: the trained tensors, the
/// optimiser's state (as a byte tensor), the step and the run's fingerprint. Batches and dropout masks
/// are derived from the seed and the step number, so no random-generator state needs saving. A run that
/// keeps its best weights saves them too, so a resumed run ends with the same weights.
/// </summary>
public static class Checkpoint
{
    private const string OptimizerKey = "optimizer.state";
    private const string StatePrefix = "state.";

    /// <summary>
    /// Writes a checkpoint of <paramref name="state"/> and <paramref name="optimizer"/> after
    /// <paramref name="step"/> steps, with the <paramref name="best"/> weights kept so far if any.
    /// </summary>
    public static void Save(string path, long step, string fingerprint, IReadOnlyDictionary<string, Tensor> state, OptimizerHelper optimizer, BestWeights? best = null)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            optimizer.save_state_dict(writer);
        }
        using var optimizerBytes = tensor(buffer.ToArray(), dtype: ScalarType.Byte);
        var tensors = state.ToDictionary(kv => StatePrefix + kv.Key, kv => kv.Value, StringComparer.Ordinal);
        tensors[OptimizerKey] = optimizerBytes;
        var metadata = new Dictionary<string, string>
        {
            ["format"] = ModelFile.Format,
            [FileKinds.Key] = FileKinds.Checkpoint,
            ["step"] = step.ToString(CultureInfo.InvariantCulture),
            ["fingerprint"] = fingerprint,
        };
        best?.AddTo(tensors, metadata);
        SafeTensors.Save(path, tensors, metadata);
    }

    /// <summary>
    /// Restores <paramref name="state"/> and <paramref name="optimizer"/> from <paramref name="path"/> and
    /// returns the step it was taken at, and the kept weights into <paramref name="best"/>. Refuses a
    /// checkpoint of a different run.
    /// </summary>
    public static long Restore(string path, string fingerprint, IReadOnlyDictionary<string, Tensor> state, OptimizerHelper optimizer, BestWeights? best = null)
    {
        // A run's own snapshot: one that diverged to NaN resumes as it was, as before loads refused NaN.
        var (tensors, metadata) = SafeTensors.Load(path, new LoadOptions { AllowNonFinite = true });
        if (!FileKinds.Is(metadata, FileKinds.Checkpoint)
            || !metadata.TryGetValue("step", out var stepText) || !long.TryParse(stepText, CultureInfo.InvariantCulture, out long step)
            || !tensors.TryGetValue(OptimizerKey, out var optimizerBytes))
        {
            throw new PrefixLabException($"'{path}' is not a PrefixLab checkpoint");
        }
        if (!metadata.TryGetValue("fingerprint", out var saved) || saved != fingerprint)
        {
            throw new PrefixLabException($"checkpoint '{path}' belongs to a different run (other model, task or settings); remove it or drop --resume");
        }
        var restored = tensors.Where(kv => kv.Key.StartsWith(StatePrefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[StatePrefix.Length..], kv => kv.Value, StringComparer.Ordinal);
        using (no_grad())
        {
            foreach (var (name, target) in state)
            {
                if (!restored.TryGetValue(name, out var source) || !source.shape.SequenceEqual(target.shape))
                {
                    throw new PrefixLabException($"checkpoint '{path}' lacks tensor '{name}' or has it in another shape");
                }
                target.copy_(source);
            }
        }
        using var reader = new BinaryReader(new MemoryStream(optimizerBytes.bytes.ToArray()));
        optimizer.load_state_dict(reader);
        if (best is not null)
        {
            best.ReadFrom(tensors, metadata, path);
            best.CheckCovers(state, path);
        }
        return step;
    }
}
