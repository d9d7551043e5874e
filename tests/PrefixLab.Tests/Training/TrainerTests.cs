using System.Text.Json;
using PrefixLab.Evaluation;
using PrefixLab.Tuning;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Training;

public class TrainerTests
{
    [Fact]
    public void Same_seed_gives_bit_identical_weights()
    {
        var first = Train(steps: 15, seed: 4);
        var second = Train(steps: 15, seed: 4);
        var third = Train(steps: 15, seed: 5);
        Assert.True(SameWeights(first, second));
        Assert.False(SameWeights(first, third));
    }

    [Fact]
    public void A_resumed_run_ends_exactly_where_an_uninterrupted_one_does()
    {
        string dir = TestModels.TempDirectory();
        var uninterrupted = Train(steps: 30, seed: 2);

        string checkpoint = Path.Combine(dir, "run.ckpt.safetensors");
        string log = Path.Combine(dir, "run.log.jsonl");
        Train(steps: 20, seed: 2, checkpoint: checkpoint, log: log);
        var resumed = Train(steps: 30, seed: 2, checkpoint: checkpoint, log: log, resume: true);

        Assert.True(SameWeights(uninterrupted, resumed));
        var lines = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal([10L, 20, 30], lines.Select(l => l.GetProperty("step").GetInt64()));
        Assert.All(lines, l => Assert.True(l.GetProperty("loss").GetDouble() > 0));
    }

    [Fact]
    public void A_checkpoint_of_another_run_is_refused()
    {
        string checkpoint = Path.Combine(TestModels.TempDirectory(), "run.ckpt.safetensors");
        Train(steps: 5, seed: 2, checkpoint: checkpoint);
        var error = Assert.Throws<PrefixLabException>(() => Train(steps: 10, seed: 3, checkpoint: checkpoint, resume: true));
        Assert.Contains("different run", error.Message);
    }

    [Fact]
    public void Evaluations_during_training_are_reported_and_logged_and_change_no_weight()
    {
        var plain = Train(steps: 30, seed: 3);
        string log = Path.Combine(TestModels.TempDirectory(), "run.log.jsonl");
        var reports = new List<TrainingProgress>();
        var modes = new List<bool>();
        Gpt? evaluated = null;
        bool? trainingAtStep30 = null;
        void Progress(TrainingProgress p)
        {
            reports.Add(p);
            trainingAtStep30 = p.Step == 30 ? evaluated!.training : trainingAtStep30;
        }
        var withEvals = Train(steps: 30, seed: 3, log: log, progress: Progress, evalEvery: 20, evaluate: model =>
        {
            modes.Add(model.training);
            return Evaluator.Evaluate(model, TaskRegistry.Default.Get("ascending"), prefixSize: 1, samples: 40);
        }, built: m => evaluated = m);

        Assert.True(SameWeights(plain, withEvals));
        Assert.Equal([false], modes); // scored in evaluation mode, at step 20 only
        Assert.True(trainingAtStep30, "training mode is restored after an evaluation");
        var eval = Assert.Single(reports, r => r.Eval is not null);
        Assert.Equal((20L, "ascending", 40), (eval.Step, eval.Eval!.Task, eval.Eval.Samples));
        var lines = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var logged = Assert.Single(lines, l => l.TryGetProperty("eval", out _));
        Assert.Equal(20, logged.GetProperty("step").GetInt64());
        Assert.Equal(eval.Eval.Correct, logged.GetProperty("eval").GetProperty("correct").GetInt32());
    }

    [Fact]
    public void An_evaluation_interval_off_the_log_interval_is_refused()
    {
        var options = new TrainOptions { Iterations = 10, LogEvery = 100, EvalEvery = 150 };
        var error = Assert.Throws<PrefixLabException>(() => options.Validate());
        Assert.Contains("multiple of the log interval", error.Message);
    }

    [Fact]
    public void Progress_reports_count_up_to_the_total()
    {
        var reports = new List<TrainingProgress>();
        Train(steps: 12, seed: 1, progress: reports.Add);
        Assert.Equal(12, reports[^1].Step);
        Assert.All(reports, r => Assert.True(r.StepsPerSecond > 0 && r.Total == 12));
    }

    [Fact]
    public void Under_a_minute_of_training_on_plus1_passes_90_percent()
    {
        var task = TaskRegistry.Default.Get("plus1");
        var model = Train(steps: 500, seed: 1, task: task, width: 96);
        var result = Evaluator.Evaluate(model, task, prefixSize: 1, samples: 500);
        Assert.True(result.Accuracy > 0.9, $"accuracy {result.Accuracy:P1}");
    }

    [Fact]
    public void A_run_that_keeps_its_best_ends_with_the_weights_of_its_best_validation_step()
    {
        // Scores given in the order the evaluations happen (steps 10, 20, 30); the weights are real.
        var scored = Train(steps: 30, seed: 6, evalEvery: 10, validate: Scores(0.2, 0.5, 0.3), result: out var result);
        var shorter = Train(steps: 20, seed: 6, evalEvery: 10, validate: Scores(0.2, 0.5));
        var last = Train(steps: 30, seed: 6, evalEvery: 10, validate: Scores(0.2, 0.5, 0.5));

        Assert.Equal((30L, 20L, 0.5), (result.Steps, result.KeptStep!.Value, result.KeptValidation!.Accuracy));
        Assert.True(SameWeights(scored, shorter), "the kept weights are step 20's");
        Assert.False(SameWeights(scored, last), "a tie keeps the later weights");
    }

    [Fact]
    public void A_resumed_run_that_keeps_its_best_ends_with_the_same_weights()
    {
        string checkpoint = Path.Combine(TestModels.TempDirectory(), "run.ckpt.safetensors");
        var uninterrupted = Train(steps: 30, seed: 7, evalEvery: 10, validate: Scores(0.4, 0.1, 0.2));
        Train(steps: 20, seed: 7, checkpoint: checkpoint, evalEvery: 10, validate: Scores(0.4, 0.1));
        var resumed = Train(steps: 30, seed: 7, checkpoint: checkpoint, resume: true, evalEvery: 10, validate: Scores(0.2), result: out var result);

        Assert.Equal((10L, 0.4), (result.KeptStep!.Value, result.KeptValidation!.Accuracy));
        Assert.True(SameWeights(uninterrupted, resumed));
    }

    [Fact]
    public void Keeping_the_best_holds_the_validation_lists_out_of_training()
    {
        var plain = Train(steps: 10, seed: 8);
        var heldOut = Train(steps: 10, seed: 8, evalEvery: 10, validate: Scores(0.0));
        Assert.False(SameWeights(plain, heldOut), "holding out changes the batches");
        Train(steps: 5, seed: 8, evalEvery: 10, validate: Scores(), result: out var brief);
        Assert.Equal((5L, (EvalResult?)null), (brief.KeptStep!.Value, brief.KeptValidation)); // no evaluation fell in it: the last weights
        var options = new TrainOptions { Iterations = 10, KeepBest = true };
        Assert.Contains("--eval-every", Assert.Throws<PrefixLabException>(() => options.Validate()).Message);
    }

    private static Func<Gpt, EvalResult> Scores(params double[] accuracies)
    {
        int call = 0;
        return _ => new EvalResult("validation", 100, (int)(100 * accuracies[call]), accuracies[call++]);
    }

    private static Gpt Train(
        int steps, ulong seed, string? checkpoint = null, string? log = null, bool resume = false,
        Action<TrainingProgress>? progress = null, ITask? task = null, int width = 32,
        int evalEvery = 0, Func<Gpt, EvalResult>? evaluate = null, Action<Gpt>? built = null, Func<Gpt, EvalResult>? validate = null) =>
        Train(steps, seed, out _, checkpoint, log, resume, progress, task, width, evalEvery, evaluate, built, validate);

    private static Gpt Train(
        int steps, ulong seed, out TrainingResult result, string? checkpoint = null, string? log = null, bool resume = false,
        Action<TrainingProgress>? progress = null, ITask? task = null, int width = 32,
        int evalEvery = 0, Func<Gpt, EvalResult>? evaluate = null, Action<Gpt>? built = null, Func<Gpt, EvalResult>? validate = null)
    {
        task ??= TaskRegistry.Default.Get("ascending");
        var layout = SequenceLayout.For(task, 1);
        var model = new Gpt(new GptConfig(11, layout.ContextLength, 1, 1, width), (long)seed);
        var options = new TrainOptions
        {
            Iterations = steps,
            Seed = seed,
            CheckpointPath = checkpoint,
            CheckpointEvery = 10,
            Resume = resume,
            LogPath = log,
            LogEvery = 10,
            EvalEvery = evalEvery,
            KeepBest = validate is not null,
        };
        built?.Invoke(model);
        result = Trainer.Run(MethodTraining.Full(model, task, layout, options), options, progress,
            evaluate is null ? null : () => evaluate(model), validate is null ? null : () => validate(model));
        return model;
    }

    private static bool SameWeights(Gpt a, Gpt b)
    {
        var sa = a.state_dict();
        var sb = b.state_dict();
        return sa.All(kv => TestModels.Same(kv.Value, sb[kv.Key]));
    }
}
