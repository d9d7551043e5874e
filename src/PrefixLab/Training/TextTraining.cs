using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Tuning;
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
        CheckFits(model, samples);
        return step =>
        {
            var (inputs, targets) = samples.TrainingBatch(options.BatchSize, Rng.For(options.Seed, DataStream, (ulong)step));
            // Answers sit at different positions in a right-padded batch, so every row is scored.
            return TaskTraining.Loss(model, inputs, targets, (int)inputs.shape[1]);
        };
    }

    /// <summary>
    /// Training of <paramref name="method"/> on <paramref name="samples"/>, as
    /// <see cref="TaskTraining.ForMethod(ILanguageModel, ITuningMethod, ITask, SequenceLayout, TrainOptions, double, string)"/>
    /// trains on a digit task. The run's fingerprint names the task by a hash of its examples.
    /// </summary>
    public static TrainingJob ForMethod(ILanguageModel model, ITuningMethod method, TextSamples samples, TrainOptions options, double weightDecay, string baseFingerprint) =>
        TaskTraining.ForMethod(model, method, StepLoss(model, samples, options), $"text:{samples.Task.Name}:{ContentHash(samples)}", samples.PaddingRows, options, weightDecay, baseFingerprint);

    /// <summary>Throws when a sequence of <paramref name="samples"/> does not fit the model.</summary>
    public static void CheckFits(ILanguageModel model, TextSamples samples)
    {
        int longest = samples.LongestContext + 1;
        PrefixLabException.Check(longest <= model.SequenceCapacity,
            $"text task '{samples.Task.Name}' has a sequence of {longest} tokens (with {samples.PaddingRows} padding{(model.PositionShift > 0 ? $", after {model.PositionShift} prefix positions" : "")}), the model has {model.Shape.Positions} positions");
        int maxId = samples.All.SelectMany(s => s.Prompt.Concat(s.Answer)).Max();
        PrefixLabException.Check(maxId < model.Shape.VocabSize, $"text task '{samples.Task.Name}' has token {maxId}, beyond the model's vocabulary of {model.Shape.VocabSize}");
    }

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
