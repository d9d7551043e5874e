using System.Diagnostics;
using PrefixLab.Evaluation;
using PrefixLab.Tuning;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using static TorchSharp.torch;

namespace PrefixLab.Benchmarks;

/// <summary>Speed of one model shape.</summary>
/// <param name="Name">Which notebook's model.</param>
/// <param name="TrainStepMs">Median wall time of a training step (batch 64).</param>
/// <param name="TrainGflops">Matrix-multiply FLOPs of a step (<see cref="Bench.TrainingFlops"/>) per second.</param>
/// <param name="EvalSamplesPerSecond">Greedy evaluation throughput.</param>
/// <param name="Phases">Median milliseconds of each phase of the timed steps.</param>
public sealed record ModelSpeed(string Name, double TrainStepMs, double TrainGflops, double EvalSamplesPerSecond, StepPhases Phases);

/// <summary>What <see cref="Bench.Run"/> measured.</summary>
/// <param name="MatmulPeakGflops">Best float32 square matrix product rate on this machine, same threads, the mean of its measurements right before and after the notebook-03 steps.</param>
/// <param name="Threads">Threads torch used.</param>
/// <param name="Nb01">The notebook-01 model (1 layer, 1 head, width 96, P = 1, ascending).</param>
/// <param name="Nb03">The notebook-03 model (4 layers, 4 heads, width 256, P = 10, random).</param>
/// <param name="Nb01Bf16">The notebook-01 training step with bfloat16 products (<see cref="Precision.Bf16"/>); its evaluation is float32, as every evaluation is.</param>
/// <param name="Nb03Bf16">The notebook-03 training step with bfloat16 products.</param>
public sealed record BenchResult(double MatmulPeakGflops, int Threads, ModelSpeed Nb01, ModelSpeed Nb03, ModelSpeed Nb01Bf16, ModelSpeed Nb03Bf16)
{
    /// <summary>The notebook-03 training step's share of the matmul peak.</summary>
    public double Nb03PeakFraction => Nb03.TrainGflops / MatmulPeakGflops;

    /// <summary>The PyTorch reference measured right after this run, when one was asked for.</summary>
    public ReferenceSpeed? Reference { get; init; }

    /// <summary>Greedy evaluation of the notebook-03 model, ms per sample.</summary>
    public double Nb03EvalMsPerSample => 1000 / Nb03.EvalSamplesPerSecond;

    /// <summary>How many times faster than the reference the float32 notebook-03 step is (NaN without one).</summary>
    public double Nb03TrainSpeedup => (Reference?.Nb03TrainMs ?? double.NaN) / Nb03.TrainStepMs;

    /// <summary>How many times faster than the (float32) reference the bfloat16 notebook-03 step is.</summary>
    public double Nb03Bf16TrainSpeedup => (Reference?.Nb03TrainMs ?? double.NaN) / Nb03Bf16.TrainStepMs;

    /// <summary>How many times faster than the reference greedy evaluation is.</summary>
    public double Nb03EvalSpeedup => (Reference?.Nb03EvalMsPerSample ?? double.NaN) / Nb03EvalMsPerSample;
}

/// <summary>Times training steps and evaluation of the paper's model shapes, and this machine's matmul peak.</summary>
public static class Bench
{
    /// <summary>Runs the benchmark: <paramref name="steps"/> timed steps per model after warm-up.</summary>
    public static BenchResult Run(int steps = 20, Action<string>? log = null)
    {
        var nb01Config = new GptConfig(11, 20, 1, 1, 96);
        var nb03Config = new GptConfig(11, 29, 4, 4, 256);
        var nb01 = Measure("nb01", nb01Config, "ascending", 1, steps, Precision.F32, log);
        // On a shared machine the product rate drifts by 10-20% within a minute, so a peak measured once
        // can land in a slow moment and put the step above 100% of it. Measured right before and right
        // after the notebook-03 steps, the mean of the two stands for the rate while they ran.
        double before = MatmulPeak();
        var nb03 = Measure("nb03", nb03Config, "random", 10, steps, Precision.F32, log);
        double after = MatmulPeak();
        double peak = (before + after) / 2;
        log?.Invoke($"matmul peak {peak:F1} GFLOP/s on {get_num_threads()} threads (mean of {before:F1} before and {after:F1} after the notebook-03 steps)");
        var nb01Bf16 = Measure("nb01 bf16", nb01Config, "ascending", 1, steps, Precision.Bf16, log);
        var nb03Bf16 = Measure("nb03 bf16", nb03Config, "random", 10, steps, Precision.Bf16, log);
        return new BenchResult(peak, get_num_threads(), nb01, nb03, nb01Bf16, nb03Bf16);
    }

    /// <summary>
    /// Matrix-multiply FLOPs one training step performs: forward 2·m·n·k per product, backward twice the
    /// forward. Each block runs its four Linear layers and the attention scores and mix over all
    /// positions, except the last block, which computes keys and values for all positions but
    /// everything else, and the head, only for the <paramref name="scored"/> positions the loss reads.
    /// </summary>
    public static double TrainingFlops(GptConfig c, int batch, int positions, int scored)
    {
        double e = c.Width;
        double fullRow = (24 * e * e) + (4.0 * positions * e);
        double keysAndValues = 4 * e * e;
        double scoredRow = (20 * e * e) + (4.0 * positions * e) + (2 * e * c.VocabSize);
        double forward = batch * (((c.Layers - 1) * positions * fullRow) + (positions * keysAndValues) + (scored * scoredRow));
        return 3 * forward;
    }

    /// <summary>
    /// Times <paramref name="steps"/> training steps of <paramref name="config"/> with products in
    /// <paramref name="precision"/>, then greedy evaluation (float32, as every evaluation runs; measured
    /// for the float32 rows only).
    /// </summary>
    private static ModelSpeed Measure(string name, GptConfig config, string taskName, int prefixSize, int steps, Precision precision, Action<string>? log)
    {
        var task = TaskRegistry.Default.Get(taskName);
        var layout = SequenceLayout.For(task, prefixSize);
        using var model = new Gpt(config, seed: 0);
        var options = new TrainOptions { Iterations = int.MaxValue, Precision = precision };
        var job = MethodTraining.Full(model, task, layout, options);
        using var session = new TrainingSession(job, options);
        model.train();
        for (int i = 0; i < 5; i++)
        {
            session.TakeStep();
        }
        var times = new List<double>();
        var phases = new List<StepPhases>();
        for (int i = 0; i < steps; i++)
        {
            var clock = Stopwatch.StartNew();
            session.TakeStep();
            times.Add(clock.Elapsed.TotalMilliseconds);
            phases.Add(session.LastPhases);
        }
        double median = Median(times);
        var phase = new StepPhases(
            Median(phases.Select(p => p.Forward)), Median(phases.Select(p => p.Backward)),
            Median(phases.Select(p => p.Clip)), Median(phases.Select(p => p.Optimizer)));
        double gflops = TrainingFlops(config, options.BatchSize, layout.ContextLength, layout.OutputLength) / (median / 1000) / 1e9;

        double perSecond = double.NaN;
        if (precision == Precision.F32)
        {
            model.eval();
            const int EvalSamples = 1024;
            Evaluator.Evaluate(model, task, prefixSize, 256);
            var evalClock = Stopwatch.StartNew();
            Evaluator.Evaluate(model, task, prefixSize, EvalSamples);
            perSecond = EvalSamples / evalClock.Elapsed.TotalSeconds;
        }
        string eval = double.IsNaN(perSecond) ? "" : $", eval {perSecond:F0} samples/s ({1000 / perSecond:F2} ms per sample)";
        log?.Invoke($"{name}: train step {median:F1} ms ({gflops:F1} GFLOP/s; forward {phase.Forward:F1}, backward {phase.Backward:F1}, clip {phase.Clip:F1}, AdamW {phase.Optimizer:F1} ms){eval}");
        return new ModelSpeed(name, median, gflops, perSecond, phase);
    }

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
    }

    private static double MatmulPeak()
    {
        double best = 0;
        foreach (int n in new[] { 512, 1024, 2048 })
        {
            using var scope = NewDisposeScope();
            var a = randn(n, n);
            var b = randn(n, n);
            for (int i = 0; i < 2; i++)
            {
                matmul(a, b);
            }
            for (int trial = 0; trial < 3; trial++)
            {
                int reps = Math.Max(1, (int)(2e9 / (2.0 * n * n * n)));
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < reps; i++)
                {
                    matmul(a, b).Dispose();
                }
                best = Math.Max(best, 2.0 * n * n * n * reps / clock.Elapsed.TotalSeconds / 1e9);
            }
        }
        return best;
    }
}
