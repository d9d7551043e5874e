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

    /// <summary>Steps taken so far (including those restored from a checkpoint).</summary>
    public long Step { get; private set; }

    /// <summary>Takes one optimiser step and returns its loss.</summary>
    public float TakeStep()
    {
        using var scope = NewDisposeScope();
        ulong stepSeed = Rng.Mix(options.Seed, (ulong)Step, 0xD50);
        job.Reseed?.Invoke(stepSeed);
        random.manual_seed((long)(stepSeed >> 1)); // for any torch randomness a job adds

        optimizer.zero_grad();
        var loss = job.Loss(Step);
        loss.backward();
        if (options.GradClip > 0)
        {
            nn.utils.clip_grad_norm_(parameters, options.GradClip);
        }
        optimizer.step();
        Step++;
        return loss.item<float>();
    }

    /// <summary>Writes a checkpoint of the trained tensors and the optimiser at the current step.</summary>
    public void Save(string path) => Checkpoint.Save(path, Step, job.Fingerprint, job.State, optimizer);

    /// <summary>Continues from the checkpoint at <paramref name="path"/>.</summary>
    public void Restore(string path) => Step = Checkpoint.Restore(path, job.Fingerprint, job.State, optimizer);

    /// <inheritdoc />
    public void Dispose() => optimizer.Dispose();
}

/// <summary>The one training loop, used for pretraining and every tuning method: checkpoints, resume, a JSON-lines log and progress reports.</summary>
public static class Trainer
{
    /// <summary>Seconds between progress reports when no log line is due.</summary>
    private const double ReportSeconds = 2.0;

    /// <summary>Runs <paramref name="job"/> with <paramref name="options"/>; <paramref name="progress"/> receives reports.</summary>
    public static TrainingResult Run(TrainingJob job, TrainOptions options, Action<TrainingProgress>? progress = null)
    {
        using var session = new TrainingSession(job, options);
        if (options.Resume && options.CheckpointPath is { } resumePath && File.Exists(resumePath))
        {
            session.Restore(resumePath);
        }
        long start = session.Step;
        using var log = new RunLog(options.LogPath, append: start > 0);
        job.SetTraining?.Invoke(true);
        var clock = Stopwatch.StartNew();
        double lossSum = 0, lastLoss = double.NaN, lastReport = 0;
        int lossCount = 0;
        try
        {
            while (session.Step < options.Iterations)
            {
                lossSum += session.TakeStep();
                lossCount++;
                long done = session.Step;
                bool logDue = done % options.LogEvery == 0 || done == options.Iterations;
                if (logDue || clock.Elapsed.TotalSeconds - lastReport >= ReportSeconds)
                {
                    var report = Report(done, start, options.Iterations, lossSum / lossCount, clock.Elapsed);
                    progress?.Invoke(report);
                    lastReport = clock.Elapsed.TotalSeconds;
                    if (logDue)
                    {
                        log.Write(report);
                        lastLoss = report.Loss;
                        lossSum = 0;
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
        return new TrainingResult(session.Step, start, lastLoss, clock.Elapsed);
    }

    private static TrainingProgress Report(long done, long start, long total, double loss, TimeSpan elapsed)
    {
        double rate = (done - start) / Math.Max(elapsed.TotalSeconds, 1e-9);
        var remaining = TimeSpan.FromSeconds((total - done) / Math.Max(rate, 1e-9));
        return new TrainingProgress(done, total, loss, rate, elapsed, remaining);
    }
}
