using PrefixLab.Evaluation;
using PrefixLab.Tuning;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;

namespace PrefixLab.Workflows;

/// <summary>What to pretrain: a fresh model of <paramref name="Config"/> trained on <paramref name="Task"/> and saved.</summary>
/// <param name="Config">The architecture (a model file holds a GPT model: <see cref="GptConfig"/>).</param>
/// <param name="Task">The task it learns.</param>
/// <param name="PrefixSize">Padding positions in front of each input.</param>
/// <param name="Options">
/// Steps, learning rate, batch, seed, checkpoints and logs. Its seed is the whole run's: it also
/// initialises the model, so one seed names one base model.
/// </param>
/// <param name="Output">The model file to write.</param>
public sealed record PretrainRequest(IModelConfig Config, ITask Task, int PrefixSize, TrainOptions Options, string Output)
{
    /// <summary>Decay on Linear weights (the paper's 0.1; none on biases, LayerNorms and embeddings).</summary>
    public double WeightDecay { get; init; } = PretrainWorkflow.PaperWeightDecay;

    /// <summary>Test samples scored at every <see cref="TrainOptions.EvalEvery"/> (null: 3,200).</summary>
    public int? EvalSamples { get; init; }

    /// <summary>Test samples scored once the model is saved (0: none).</summary>
    public int FinalEvalSamples { get; init; }

    /// <summary>The stage name training reports carry.</summary>
    public string Label { get; init; } = "pretrain";
}

/// <summary>What pretraining did.</summary>
/// <param name="Training">The training run (steps, resumed step, loss, the kept step).</param>
/// <param name="Parameters">The model's parameter count.</param>
/// <param name="Evaluation">The score after saving, when <see cref="PretrainRequest.FinalEvalSamples"/> asked for one.</param>
public sealed record PretrainResult(TrainingResult Training, long Parameters, EvalResult? Evaluation);

/// <summary>
/// Pretraining, written once for <c>prefixlab pretrain</c>, the reproduction's cached base models and
/// library users: a fresh model from the config and the seed, trained by the one training loop on the
/// task with full fine-tuning's parameter groups, saved with the metadata that says what it is.
/// </summary>
public static class PretrainWorkflow
{
    /// <summary>The paper's pretraining decay on Linear weights.</summary>
    public const double PaperWeightDecay = 0.1;

    /// <summary>
    /// Runs <paramref name="request"/>. <paramref name="progress"/> hears first a one-line description
    /// of the run (with no step), then the training reports under <see cref="PretrainRequest.Label"/>.
    /// </summary>
    public static PretrainResult Run(PretrainRequest request, Action<string, TrainingProgress?>? progress = null)
    {
        var (config, task, prefixSize, options, output) = request;
        var layout = SequenceLayout.For(task, prefixSize);
        // The seed initialises the model as well as drawing the batches and masks, so that a base model
        // is named by its settings and one seed, whoever trains it.
        using var model = config.Create((long)options.Seed);
        var job = MethodTraining.Full(model, task, layout, options, request.WeightDecay);
        long parameters = model.Module.parameters().Sum(p => p.numel());
        var shape = model.Shape;
        progress?.Invoke($"{request.Label} {task.Name}: {shape.Layers} layer(s), {shape.Heads} head(s), width {shape.Width}, P = {prefixSize}, {parameters:N0} parameters", null);
        int periodicSamples = request.EvalSamples ?? Evaluator.DefaultSamples;
        var result = Trainer.Run(job, options, p => progress?.Invoke(request.Label, p),
            () => Evaluator.Evaluate(model, task, prefixSize, periodicSamples),
            () => Evaluator.Evaluate(model, task, prefixSize, periodicSamples, split: DataSplit.Validation));
        ModelFile.Save(output, model, new ModelInfo(config, prefixSize, task.Name, result.WeightsStep, options.Seed, ModelInfo.PrecisionEntry(options.Precision)));
        var eval = request.FinalEvalSamples > 0 ? Evaluator.Evaluate(model, task, prefixSize, request.FinalEvalSamples) : null;
        return new PretrainResult(result, parameters, eval);
    }
}
