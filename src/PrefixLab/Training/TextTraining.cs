using PrefixLab.Evaluation;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Util;
using static TorchSharp.torch;

namespace PrefixLab.Training;

/// <summary>Training on a text task (<see cref="TextSamples"/>) through the one loop and the one masked loss.</summary>
public static class TextTraining
{
    private const ulong DataStream = 0x7E47;

    /// <summary>The loss of step s on a batch drawn from the seed and s alone, scored on the answer tokens.</summary>
    public static Func<long, Tensor> StepLoss(ILanguageModel model, TextSamples samples, TrainOptions options)
    {
        SequenceFit.Check(model, samples);
        return step =>
        {
            var (inputs, targets) = samples.TrainingBatch(options.BatchSize, Rng.For(options.Seed, DataStream, (ulong)step));
            // Answers sit at different positions in a right-padded batch, so every row is scored.
            return TaskTraining.Loss(model, inputs, targets, (int)inputs.shape[1]);
        };
    }


    /// <summary>How a run's fingerprint names a text task: its name and a hash of its examples.</summary>
    public static string TaskName(TextSamples samples) => $"text:{samples.Task.Name}:{ContentHash(samples)}";

    private static string ContentHash(TextSamples samples)
    {
        ulong h = 14695981039346656037UL;
        // Validation examples come last, so a file without them hashes (and fingerprints its runs) as before they existed.
        foreach (var sample in samples.All)
        {
            foreach (int id in sample.Prompt.Append(-1).Concat(sample.Answer).Append(-2))
            {
                h = (h ^ (uint)id) * 1099511628211UL;
            }
        }
        return Rng.Mix(h).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
    }
}
