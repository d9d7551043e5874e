using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Training;

/// <summary>bfloat16 products in training: what changes, what stays float32, and that runs repeat.</summary>
public class PrecisionTests
{
    private static readonly ITask Task = TaskRegistry.Default.Get("ascending");

    [Fact]
    public void One_bf16_step_differs_from_float32_only_by_bfloat16_rounding()
    {
        // The same model and batch, dropout off: loss and gradients in both precisions.
        var (f32Loss, f32Grads) = LossAndGradients(Precision.F32);
        var (bf16Loss, bf16Grads) = LossAndGradients(Precision.Bf16);
        // bfloat16 keeps 8 significant bits (relative rounding 2^-9, about 0.2%) per operand; over the
        // products of two blocks and the head the loss moves by well under 1% and the gradient by a few %.
        Assert.InRange(Math.Abs(bf16Loss - f32Loss) / f32Loss, 1e-7, 0.01);
        using var difference = (bf16Grads - f32Grads).norm();
        double relative = difference.item<float>() / f32Grads.norm().item<float>();
        Assert.InRange(relative, 1e-5, 0.05);
    }

    [Fact]
    public void Bf16_training_lowers_the_loss_and_keeps_weights_gradients_and_optimiser_state_float32()
    {
        string checkpoint = Path.Combine(TestModels.TempDirectory(), "run.ckpt.safetensors");
        using var model = NewModel(seed: 3);
        var options = new TrainOptions { Iterations = 60, Seed = 3, Precision = Precision.Bf16, CheckpointPath = checkpoint };
        var job = MethodTraining.Full(model, Task, SequenceLayout.For(Task, 1), options);
        using var session = new TrainingSession(job, options);
        model.train();
        var losses = Enumerable.Range(0, 60).Select(_ => (double)session.TakeStep()).ToList();
        Assert.True(losses.TakeLast(10).Average() < 0.8 * losses.Take(10).Average(), $"loss {losses.Take(10).Average():F3} → {losses.TakeLast(10).Average():F3}");

        Assert.All(model.parameters(), p =>
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
        });
        var moments = session.Optimizer.state_dict().State.Cast<AdamW.State>().ToList();
        Assert.Equal(model.parameters().Count(), moments.Count);
        Assert.All(moments, m =>
        {
            Assert.Equal(ScalarType.Float32, m.exp_avg.dtype);
            Assert.Equal(ScalarType.Float32, m.exp_avg_sq.dtype);
        });
        // The checkpoint holds the weights as they are in memory.
        session.Save(checkpoint);
        Assert.All(SafeTensors.ReadHeader(checkpoint).Tensors.Where(t => t.Key.StartsWith("state.", StringComparison.Ordinal)), t => Assert.Equal("F32", t.Value.Dtype));
    }

    [Fact]
    public void Same_seed_gives_the_same_bf16_weights_and_they_are_not_the_float32_ones()
    {
        using var first = Train(Precision.Bf16, seed: 5);
        using var second = Train(Precision.Bf16, seed: 5);
        using var f32 = Train(Precision.F32, seed: 5);
        Assert.True(SameWeights(first, second));
        Assert.False(SameWeights(first, f32));
    }

    [Fact]
    public void Only_bf16_runs_name_their_precision_in_the_fingerprint()
    {
        using var model = NewModel(seed: 1);
        var layout = SequenceLayout.For(Task, 1);
        string f32 = MethodTraining.Full(model, Task, layout, new TrainOptions { Iterations = 1 }).Fingerprint;
        string bf16 = MethodTraining.Full(model, Task, layout, new TrainOptions { Iterations = 1, Precision = Precision.Bf16 }).Fingerprint;
        Assert.DoesNotContain("precision", f32, StringComparison.Ordinal);
        Assert.Contains("\"precision\":\"bf16\"", bf16, StringComparison.Ordinal);
    }

    private static Gpt NewModel(long seed) => new(new GptConfig(11, SequenceLayout.For(Task, 1).ContextLength, 2, 2, 64), seed);

    private static (double Loss, Tensor Gradients) LossAndGradients(Precision precision)
    {
        using var model = NewModel(seed: 2);
        model.eval();
        var layout = SequenceLayout.For(Task, 1);
        var (inputs, targets) = layout.TrainingBatch(Task, 64, DataSplit.Train, PrefixLab.Util.Rng.For(9, 1), 0, false);
        Tensor loss;
        using (model.ComputeIn(precision))
        {
            loss = TaskTraining.Loss(model, inputs, targets, layout.OutputLength);
        }
        loss.backward();
        return (loss.item<float>(), cat([.. model.parameters().Select(p => p.grad!.flatten())]));
    }

    private static Gpt Train(Precision precision, ulong seed)
    {
        var model = NewModel((long)seed);
        var options = new TrainOptions { Iterations = 15, Seed = seed, Precision = precision };
        Trainer.Run(MethodTraining.Full(model, Task, SequenceLayout.For(Task, 1), options), options);
        return model;
    }

    private static bool SameWeights(Gpt a, Gpt b)
    {
        var other = b.state_dict();
        return a.state_dict().All(kv => TestModels.Same(kv.Value, other[kv.Key]));
    }
}
