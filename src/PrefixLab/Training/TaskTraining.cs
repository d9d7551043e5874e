using System.Text.Json;
using PrefixLab.Evaluation;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Util;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Training;

/// <summary>Training on a task: the masked loss, each step's batch, and the pretraining job.</summary>
public static class TaskTraining
{
    private const ulong DataStream = 0xDA7A;

    /// <summary>
    /// The paper's loss: cross-entropy of the output predictions only. Only the last
    /// <paramref name="outputLength"/> positions carry targets, so the head runs on those rows alone.
    /// </summary>
    public static Tensor Loss(ILanguageModel model, Tensor inputs, Tensor targets, int outputLength)
    {
        var scored = TensorIndex.Slice(-outputLength);
        var logits = model.Head(model.Hidden(inputs, lastRows: outputLength));
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[^1]),
            targets[TensorIndex.Colon, scored].reshape(-1),
            ignore_index: SequenceLayout.IgnoreIndex);
    }

    /// <summary>
    /// The loss of step <c>s</c> on a fresh training batch drawn from the seed and <c>s</c> alone, so the
    /// batches do not depend on what ran before.
    /// </summary>
    public static Func<long, Tensor> StepLoss(ILanguageModel model, ITask task, SequenceLayout layout, TrainOptions options)
    {
        SequenceFit.Check(model, task, layout);
        return step =>
        {
            var rng = Rng.For(options.Seed, DataStream, (ulong)step);
            var (inputs, targets) = layout.TrainingBatch(task, options.BatchSize, DataSplit.Train, rng, step * options.BatchSize, options.KeepBest);
            return Loss(model, inputs, targets, layout.OutputLength);
        };
    }


    /// <summary>A string that identifies a run by everything that determines it but its length.</summary>
    public static string Fingerprint(string method, object config, ITask task, SequenceLayout layout, TrainOptions options, object settings) =>
        Fingerprint(method, config, task.Name, layout.PrefixSize, options, settings);

    /// <summary>A string that identifies a run by everything that determines it but its length.</summary>
    public static string Fingerprint(string method, object config, string taskName, int prefixSize, TrainOptions options, object settings)
    {
        var run = JsonSerializer.SerializeToNode(new
        {
            method,
            config,
            task = taskName,
            prefix_size = prefixSize,
            batch = options.BatchSize,
            lr = options.LearningRate,
            betas = new[] { options.Beta1, options.Beta2 },
            clip = options.GradClip,
            seed = options.Seed,
            settings,
        })!;
        // Holding out the validation split changes the batches. Only such runs carry the field, so the
        // fingerprints (and checkpoints) of every other run stay as they were.
        if (options.KeepBest)
        {
            run["held_out"] = "validation";
        }
        // The same holds for the product type: only bf16 runs name theirs.
        if (options.Precision != Precision.F32)
        {
            run["precision"] = options.Precision.Name();
        }
        return run.ToJsonString();
    }
}
