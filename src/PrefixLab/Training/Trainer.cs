using System.Diagnostics;
using PrefixLab.Util;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Training;

/// <summary>
/// One optimiser and one step at a time: AdamW with the job's parameter groups, gradient-norm clipping
/// and a constant learning rate. Step <c>s</c> reseeds the model's dropout stream (and torch's generator)
/// from the run's seed and <c>s</c>, so a run is reproducible on one machine and a resumed run continues exactly as an
/// uninterrupted one. <see cref="Trainer.Run"/> drives it; a benchmark can time single steps.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    private readonly TrainingJob job;
    private readonly TrainOptions options;
    private readonly OptimizerHelper optimizer;
    private readonly List<Parameter> parameters;

    /// <summary>Prepares the optimiser for <paramref name="job"/>.</summary>
    public TrainingSession(TrainingJob job, TrainOptions options)
    {
        this.job = job;
        this.options = options.Validate();
        var groups = job.Groups.Select(g => new AdamW.ParamGroup(g.Parameters, new AdamW.Options
        {
            LearningRate = options.LearningRate,
            beta1 = options.Beta1,
            beta2 = options.Beta2,
            eps = 1e-8,
            weight_decay = g.WeightDecay,
        }));
        optimizer = optim.AdamW(groups, options.LearningRate, options.Beta1, options.Beta2);
        parameters = [.. job.Groups.SelectMany(g => g.Parameters)];
    }

    /// <summary>The optimiser, for tests that check its state.</summary>
    internal OptimizerHelper Optimizer => optimizer;

    /// <summary>The weights that scored best on validation, for a run that keeps them (saved with each checkpoint).</summary>
    public BestWeights Best { get; } = new();

    /// <summary>Steps taken so far (including those restored from a checkpoint).</summary>
    public long Step { get; private set; }

    /// <summary>The gradient norm of the last step, before clipping.</summary>
    public double LastGradNorm { get; private set; }

    /// <summary>Where the last step's time went (for the benchmark; two clock reads per phase).</summary>
    public StepPhases LastPhases { get; private set; } = new(0, 0, 0, 0);

    /// <summary>Takes one optimiser step and returns its loss.</summary>
    public float TakeStep()
    {
        using var scope = NewDisposeScope();
        ulong stepSeed = Rng.Mix(options.Seed, (ulong)Step, 0xD50);
        job.Reseed?.Invoke(stepSeed);

        long t0 = Stopwatch.GetTimestamp();
        // Gradients start unset, as PyTorch's zero_grad(set_to_none=True) leaves them: backward then
        // stores each fresh gradient instead of adding it to a zero-filled one (same values, two
        // passes over every gradient fewer).
        foreach (var parameter in parameters)
        {
            parameter.grad = null;
        }
        var loss = job.Loss(Step);
        long t1 = Stopwatch.GetTimestamp();
        loss.backward();
        long t2 = Stopwatch.GetTimestamp();
        // Clipping measures the norm anyway; without clipping it is measured apart, leaving the gradients untouched.
        LastGradNorm = options.GradClip > 0 ? nn.utils.clip_grad_norm_(parameters, options.GradClip) : GradNorm(parameters);
        long t3 = Stopwatch.GetTimestamp();
        optimizer.step();
        long t4 = Stopwatch.GetTimestamp();
        LastPhases = new StepPhases(Ms(t0, t1), Ms(t1, t2), Ms(t2, t3), Ms(t3, t4));
        Step++;
        // A bfloat16 model's loss is bfloat16; reading it as float32 is exact either way.
        return loss.to_type(ScalarType.Float32).item<float>();
    }

    /// <summary>The 2-norm of all gradients together, as clipping computes it.</summary>
    private static double GradNorm(IEnumerable<Parameter> parameters)
    {
        var norms = parameters.Where(p => p.grad is not null).Select(p => linalg.vector_norm(p.grad!)).ToArray();
        return norms.Length == 0 ? 0 : linalg.vector_norm(stack(norms)).to_type(ScalarType.Float32).item<float>();
    }

    private static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>Writes a checkpoint of the trained tensors and the optimiser at the current step.</summary>
    public void Save(string path) => Checkpoint.Save(path, Step, job.Fingerprint, job.State, optimizer, Best);

    /// <summary>Continues from the checkpoint at <paramref name="path"/>.</summary>
    public void Restore(string path) => Step = Checkpoint.Restore(path, job.Fingerprint, job.State, optimizer, Best);

    /// <inheritdoc />
    public void Dispose()
    {
        optimizer.Dispose();
        Best.Dispose();
    }
}

/// <summary>Milliseconds of one training step's phases.</summary>
/// <param name="Forward">Drawing the batch and the forward pass to the loss.</param>
/// <param name="Backward">Back-propagation.</param>
/// <param name="Clip">Gradient-norm clipping.</param>
/// <param name="Optimizer">The AdamW update.</param>
public sealed record StepPhases(double Forward, double Backward, double Clip, double Optimizer);

/// <summary>The one training loop, used for pretraining and every tuning method: checkpoints, resume, a JSON-lines log and progress reports.</summary>
public static class Trainer
{
    /// <summary>Seconds between progress reports when no log line is due.</summary>
    private const double ReportSeconds = 2.0;

    /// <summary>
    /// Runs <paramref name="job"/> with <paramref name="options"/>; <paramref name="progress"/> receives
    /// reports. Every <see cref="TrainOptions.EvalEvery"/> steps, <paramref name="evaluate"/> scores the
    /// model in evaluation mode; it draws nothing from the training's random streams (each step reseeds
    /// them), so a run with evaluations trains exactly as one without. With
    /// <see cref="TrainOptions.KeepBest"/>, <paramref name="validate"/> scores the validation split at
    /// the same steps and the run ends with the weights that scored best there.
    /// </summary>
    public static TrainingResult Run(TrainingJob job, TrainOptions options, Action<TrainingProgress>? progress = null, Func<Evaluation.EvalResult>? evaluate = null, Func<Evaluation.EvalResult>? validate = null)
    {
        PrefixLabException.Check(!options.KeepBest || validate is not null, "keeping the best weights needs a validation evaluation");
        using var session = new TrainingSession(job, options);
        if (options.Resume && options.CheckpointPath is { } resumePath && File.Exists(resumePath))
        {
            session.Restore(resumePath);
        }
        long start = session.Step;
        using var log = new RunLog(options.LogPath, start);
        using var board = options.TensorBoardDir is { } boardDir ? new TensorBoardLog(boardDir, job.Fingerprint, start, TensorBoardLog.Hyperparameters(job, options)) : null;
        job.SetTraining?.Invoke(true);
        var clock = Stopwatch.StartNew();
        // A run resumed at its end takes no step: its loss is the last one its log holds.
        double lossSum = 0, gradNormSum = 0, lastLoss = log.LastLoss, lastReport = 0;
        int lossCount = 0;
        try
        {
            while (session.Step < options.Iterations)
            {
                lossSum += session.TakeStep();
                gradNormSum += session.LastGradNorm;
                lossCount++;
                long done = session.Step;
                bool logDue = done % options.LogEvery == 0 || done == options.Iterations;
                bool evalDue = options.EvalEvery > 0 && done % options.EvalEvery == 0;
                var eval = evaluate is not null && evalDue ? EvaluateNow(job, evaluate) : null;
                var validation = options.KeepBest && evalDue ? EvaluateNow(job, validate!) : null;
                if (validation is not null)
                {
                    session.Best.Offer(done, validation, job.State);
                }
                if (logDue || clock.Elapsed.TotalSeconds - lastReport >= ReportSeconds)
                {
                    var report = Report(done, start, options.Iterations, lossSum / lossCount, clock.Elapsed) with
                    {
                        Eval = eval,
                        Validation = validation,
                        GradNorm = gradNormSum / lossCount,
                        LearningRate = options.LearningRate,
                    };
                    progress?.Invoke(report);
                    lastReport = clock.Elapsed.TotalSeconds;
                    if (logDue)
                    {
                        var record = RunLogRecord.Of(report);
                        log.Write(record);
                        board?.Write(record);
                        lastLoss = report.Loss;
                        lossSum = 0;
                        gradNormSum = 0;
                        lossCount = 0;
                    }
                }
                bool checkpointDue = options.CheckpointEvery > 0 && done % options.CheckpointEvery == 0;
                if (options.CheckpointPath is { } path && (checkpointDue || done == options.Iterations))
                {
                    session.Save(path);
                }
            }
        }
        finally
        {
            job.SetTraining?.Invoke(false);
        }
        if (!options.KeepBest)
        {
            return new TrainingResult(session.Step, start, lastLoss, clock.Elapsed);
        }
        // The checkpoint keeps the last weights (a longer resumed run goes on from them); the caller gets the best.
        session.Best.CopyTo(job.State);
        // No evaluation fell in the run (fewer steps than the interval): the last weights are what it keeps.
        long kept = session.Best.Validation is null ? session.Step : session.Best.Step;
        return new TrainingResult(session.Step, start, lastLoss, clock.Elapsed, kept, session.Best.Validation);
    }

    private static Evaluation.EvalResult EvaluateNow(TrainingJob job, Func<Evaluation.EvalResult> evaluate)
    {
        job.SetTraining?.Invoke(false);
        try
        {
            return evaluate();
        }
        finally
        {
            job.SetTraining?.Invoke(true);
        }
    }

    private static TrainingProgress Report(long done, long start, long total, double loss, TimeSpan elapsed)
    {
        double rate = (done - start) / Math.Max(elapsed.TotalSeconds, 1e-9);
        var remaining = TimeSpan.FromSeconds((total - done) / Math.Max(rate, 1e-9));
        return new TrainingProgress(done, total, loss, rate, elapsed, remaining);
    }
}
