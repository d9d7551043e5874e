using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using static TorchSharp.torch;

namespace PrefixLab.Tuning;

/// <summary>
/// Training jobs for a tuning method attached to a model, through the one loop of
/// <see cref="Trainer"/> and the one masked loss of <see cref="TaskTraining"/>: digit tasks, text tasks,
/// and pretraining as full fine-tuning of a fresh model.
/// </summary>
public static class MethodTraining
{
    /// <summary>
    /// Pretraining or full fine-tuning of every parameter, with minGPT's groups: weight decay
    /// <paramref name="weightDecay"/> on Linear weights, none on biases, LayerNorms and embeddings.
    /// </summary>
    public static TrainingJob Full(ILanguageModel model, ITask task, SequenceLayout layout, TrainOptions options, double weightDecay = 0.1) =>
        ForMethod(model, new FullFineTune(model, new FullSettings()), task, layout, options, weightDecay, "none");

    /// <summary>
    /// Training of <paramref name="method"/> attached to <paramref name="model"/>: its parameters in
    /// AdamW with <paramref name="weightDecay"/>, the base in evaluation mode unless the method trains it
    /// (the paper trains prefixes and LoRA on a model in eval mode).
    /// </summary>
    public static TrainingJob ForMethod(ILanguageModel model, ITuningMethod method, ITask task, SequenceLayout layout, TrainOptions options, double weightDecay, string baseFingerprint) =>
        ForMethod(model, method, TaskTraining.StepLoss(model, task, layout, options), task.Name, layout.PrefixSize, options, weightDecay, baseFingerprint);

    /// <summary>
    /// Training of <paramref name="method"/> on any data: <paramref name="stepLoss"/> gives step s's
    /// loss; <paramref name="taskName"/> and <paramref name="prefixSize"/> identify the data in the run's
    /// fingerprint. The digit tasks and the text tasks both come through here.
    /// </summary>
    public static TrainingJob ForMethod(ILanguageModel model, ITuningMethod method, Func<long, Tensor> stepLoss, string taskName, int prefixSize, TrainOptions options, double weightDecay, string baseFingerprint)
    {
        PrefixLabException.Check(method.Parameters.Count > 0, $"method '{method.Name}' has nothing to train");
        return new TrainingJob
        {
            Groups = method.Groups(weightDecay),
            Loss = InPrecision(model, stepLoss, options.Precision),
            State = method.TrainsBase
                ? model.Module.state_dict()
                : method.Parameters.Select((p, i) => (Name: $"p{i}", Tensor: (Tensor)p)).ToDictionary(x => x.Name, x => x.Tensor),
            // The base enters as its legacy 16-digit fingerprint, so runs keep the identity (and checkpoints) they had before fingerprints grew to 64.
            Fingerprint = TaskTraining.Fingerprint(method.Name, model.Config, taskName, prefixSize, options, TuningMethods.Identity(new { method.Settings, weight_decay = weightDecay, base_model = baseFingerprint[..Math.Min(baseFingerprint.Length, AdapterFile.LegacyFingerprintLength)] }, method.Name, method.Settings)),
            Reseed = model.Dropout.Reseed,
            SetTraining = training => model.Module.train(training && method.TrainsBase),
        };
    }

    /// <summary>
    /// <paramref name="stepLoss"/> with the model's products in <paramref name="precision"/> over the
    /// forward pass; float32 is the loss itself, untouched.
    /// </summary>
    private static Func<long, Tensor> InPrecision(ILanguageModel model, Func<long, Tensor> stepLoss, Precision precision) =>
        precision == Precision.F32 ? stepLoss : step =>
        {
            using var products = model.ComputeIn(precision);
            return stepLoss(step);
        };

    /// <summary>
    /// Training of <paramref name="method"/> on <paramref name="samples"/>, as
    /// <see cref="ForMethod(ILanguageModel, ITuningMethod, ITask, SequenceLayout, TrainOptions, double, string)"/>
    /// trains on a digit task. The run's fingerprint names the task by a hash of its examples.
    /// </summary>
    public static TrainingJob ForMethod(ILanguageModel model, ITuningMethod method, TextSamples samples, TrainOptions options, double weightDecay, string baseFingerprint) =>
        ForMethod(model, method, TextTraining.StepLoss(model, samples, options), TextTraining.TaskName(samples), samples.PaddingRows, options, weightDecay, baseFingerprint);
}
