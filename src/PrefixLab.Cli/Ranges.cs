using PrefixLab.Model;

namespace PrefixLab.Cli;

/// <summary>
/// Bounds of the options that several commands share, in one place so that the usage texts and the
/// checks say the same. Options bound by a model (prefix size, LoRA rank, layer, head) are checked
/// against the model once it is loaded.
/// </summary>
internal static class Ranges
{
    /// <summary>Training steps, and the intervals counted in steps.</summary>
    public const int MaxSteps = 100_000_000;

    /// <summary>Samples per training step or per evaluation batch.</summary>
    public const int MaxBatch = 65_536;

    /// <summary>Test or validation samples one evaluation draws.</summary>
    public const int MaxSamples = 1_000_000;

    /// <summary>Largest learning rate (AdamW moves each weight by about this much per step).</summary>
    public const double MaxLearningRate = 10;

    /// <summary>Largest AdamW weight decay.</summary>
    public const double MaxWeightDecay = 10;

    /// <summary>Tokens a generation adds, at most (the model's positions bound it first).</summary>
    public const int MaxNewTokens = 1_000_000;

    /// <summary>
    /// Refuses a training batch whose attention scores and activations alone (a lower bound on what a
    /// step allocates, about 16 floats per token and layer per unit of width plus the score matrices)
    /// exceed the memory the process may use: such a step is killed by the system, not reported.
    /// </summary>
    public static void CheckTrainingMemory(ModelShape config, int batch, int positions)
    {
        double perSequence = (double)positions * config.Layers * ((16.0 * config.Width) + (3.0 * config.Heads * positions))
            + (3.0 * positions * config.VocabSize);
        double bytes = 4 * perSequence * batch;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        PrefixLabException.Check(bytes <= available,
            $"option --batch {batch} needs at least {bytes / (1 << 30):F1} GiB for one training step of this model ({positions} positions), more than the {available / (double)(1 << 30):F1} GiB this machine has; use a smaller --batch");
    }
}
