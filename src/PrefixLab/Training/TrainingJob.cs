using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Training;

/// <summary>Parameters that share an AdamW weight decay.</summary>
/// <param name="Parameters">The parameters.</param>
/// <param name="WeightDecay">Their decoupled weight decay.</param>
public sealed record ParameterGroup(IReadOnlyList<Parameter> Parameters, double WeightDecay);

/// <summary>
/// What the <see cref="Trainer"/> trains, independent of how: pretraining, full fine-tuning and every
/// tuning method describe themselves this way, so one loop serves them all.
/// </summary>
public sealed class TrainingJob
{
    /// <summary>The trainable parameters, grouped by weight decay.</summary>
    public required IReadOnlyList<ParameterGroup> Groups { get; init; }

    /// <summary>The scalar loss of step <c>s</c> (the job draws its own batch for that step).</summary>
    public required Func<long, Tensor> Loss { get; init; }

    /// <summary>The tensors a checkpoint saves and a resumed run restores, by name.</summary>
    public required IReadOnlyDictionary<string, Tensor> State { get; init; }

    /// <summary>
    /// Identifies the run (model, method, task, settings but not the step count); a checkpoint of another
    /// run is refused instead of silently mixed in.
    /// </summary>
    public required string Fingerprint { get; init; }

    /// <summary>Called before each step with a seed derived from the run's seed and the step (the model's dropout stream).</summary>
    public Action<ulong>? Reseed { get; init; }

    /// <summary>Called with true before training and false after it (train versus eval mode of the model).</summary>
    public Action<bool>? SetTraining { get; init; }
}

/// <summary>A progress report of a training run.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="Total">Steps the run goes to.</param>
/// <param name="Loss">Mean loss over the steps since the previous report.</param>
/// <param name="StepsPerSecond">Rate of this session (excluding resumed steps).</param>
/// <param name="Elapsed">Time of this session.</param>
/// <param name="Remaining">Estimated time left.</param>
/// <param name="Eval">The evaluation taken at this step, on steps where one is due.</param>
/// <param name="Validation">The validation score taken at this step, in a run that keeps its best weights.</param>
/// <param name="GradNorm">Mean gradient norm before clipping over the steps since the previous report (NaN when unknown).</param>
/// <param name="LearningRate">The learning rate of those steps (NaN when unknown).</param>
public sealed record TrainingProgress(long Step, long Total, double Loss, double StepsPerSecond, TimeSpan Elapsed, TimeSpan Remaining, Evaluation.EvalResult? Eval = null, Evaluation.EvalResult? Validation = null, double GradNorm = double.NaN, double LearningRate = double.NaN);

/// <summary>The outcome of a training run.</summary>
/// <param name="Steps">Steps done in all, resumed ones included.</param>
/// <param name="ResumedFrom">The step the run resumed from (0 for a fresh run).</param>
/// <param name="FinalLoss">Mean loss of the last logged interval.</param>
/// <param name="Elapsed">Wall time of this session.</param>
/// <param name="KeptStep">In a run that keeps its best weights: the step they come from (the last step when no evaluation fell in the run).</param>
/// <param name="KeptValidation">And their validation score (null when no evaluation fell in the run).</param>
public sealed record TrainingResult(long Steps, long ResumedFrom, double FinalLoss, TimeSpan Elapsed, long? KeptStep = null, Evaluation.EvalResult? KeptValidation = null)
{
    /// <summary>The step the weights the run ends with come from: the kept step, else the last.</summary>
    public long WeightsStep => KeptStep ?? Steps;
}
