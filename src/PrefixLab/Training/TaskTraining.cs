using System.Text.Json;
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
    public static Tensor Loss(Gpt model, Tensor inputs, Tensor targets, int outputLength)
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
    public static Func<long, Tensor> StepLoss(Gpt model, ITask task, SequenceLayout layout, TrainOptions options)
    {
        CheckFits(model, task, layout);
        return step =>
        {
            var rng = Rng.For(options.Seed, DataStream, (ulong)step);
            var (inputs, targets) = layout.TrainingBatch(task, options.BatchSize, DataSplit.Train, rng, step * options.BatchSize, options.KeepBest);
            return Loss(model, inputs, targets, layout.OutputLength);
        };
    }

    /// <summary>
    /// Pretraining or full fine-tuning of every parameter, with minGPT's groups: weight decay
    /// <paramref name="weightDecay"/> on Linear weights, none on biases, LayerNorms and embeddings.
    /// </summary>
    public static TrainingJob Full(Gpt model, ITask task, SequenceLayout layout, TrainOptions options, double weightDecay = 0.1) =>
        ForMethod(model, new Tuning.FullFineTune(model, new Tuning.FullSettings()), task, layout, options, weightDecay, "none");

    /// <summary>
    /// Training of <paramref name="method"/> attached to <paramref name="model"/>: its parameters in
    /// AdamW with <paramref name="weightDecay"/>, the base in evaluation mode unless the method trains it
    /// (the paper trains prefixes and LoRA on a model in eval mode).
    /// </summary>
    public static TrainingJob ForMethod(Gpt model, Tuning.ITuningMethod method, ITask task, SequenceLayout layout, TrainOptions options, double weightDecay, string baseFingerprint) =>
        ForMethod(model, method, StepLoss(model, task, layout, options), task.Name, layout.PrefixSize, options, weightDecay, baseFingerprint);

    /// <summary>
    /// Training of <paramref name="method"/> on any data: <paramref name="stepLoss"/> gives step s's
    /// loss; <paramref name="taskName"/> and <paramref name="prefixSize"/> identify the data in the run's
    /// fingerprint. The digit tasks and the text tasks both come through here.
    /// </summary>
    public static TrainingJob ForMethod(Gpt model, Tuning.ITuningMethod method, Func<long, Tensor> stepLoss, string taskName, int prefixSize, TrainOptions options, double weightDecay, string baseFingerprint)
    {
        PrefixLabException.Check(method.Parameters.Count > 0, $"method '{method.Name}' has nothing to train");
        return new TrainingJob
        {
            Groups = method.Groups(weightDecay),
            Loss = stepLoss,
            State = method.TrainsBase
                ? model.state_dict()
                : method.Parameters.Select((p, i) => (Name: $"p{i}", Tensor: (Tensor)p)).ToDictionary(x => x.Name, x => x.Tensor),
            // The base enters as its legacy 16-digit fingerprint, so runs keep the identity (and checkpoints) they had before fingerprints grew to 64.
            Fingerprint = Fingerprint(method.Name, model.Config, taskName, prefixSize, options, Tuning.TuningMethods.Identity(new { method.Settings, weight_decay = weightDecay, base_model = baseFingerprint[..Math.Min(baseFingerprint.Length, Tuning.AdapterFile.LegacyFingerprintLength)] }, method.Name, method.Settings)),
            Reseed = model.Dropout.Reseed,
            SetTraining = training => model.train(training && method.TrainsBase),
        };
    }

    /// <summary>A string that identifies a run by everything that determines it but its length.</summary>
    public static string Fingerprint(string method, GptConfig config, ITask task, SequenceLayout layout, TrainOptions options, object settings) =>
        Fingerprint(method, config, task.Name, layout.PrefixSize, options, settings);

    /// <summary>A string that identifies a run by everything that determines it but its length.</summary>
    public static string Fingerprint(string method, GptConfig config, string taskName, int prefixSize, TrainOptions options, object settings)
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
        return run.ToJsonString();
    }

    /// <summary>Throws when <paramref name="task"/> laid out as <paramref name="layout"/> does not fit the model.</summary>
    public static void CheckFits(Gpt model, ITask task, SequenceLayout layout)
    {
        if (task.MaxToken >= model.Config.VocabSize)
        {
            throw new PrefixLabException($"task '{task.Name}' produces token {task.MaxToken}, beyond the model's vocabulary of {model.Config.VocabSize}");
        }
        if (layout.ContextLength > model.SequenceCapacity)
        {
            string prefix = model.PositionShift > 0 ? $" after a {model.PositionShift}-position key/value prefix" : "";
            throw new PrefixLabException($"task '{task.Name}' with prefix size {layout.PrefixSize} needs {layout.ContextLength} positions{prefix}, the model has {model.Config.BlockSize}");
        }
    }
}
