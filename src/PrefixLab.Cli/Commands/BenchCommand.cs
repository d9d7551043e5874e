using System.Text.Json;
using PrefixLab.Benchmarks;

namespace PrefixLab.Cli.Commands;

internal sealed class BenchCommand : ICommand
{
    public string Name => "bench";

    public string Summary => "time training steps and evaluation against this machine's matmul peak";

    public string Usage => """
        prefixlab bench [--steps N] [--json]
          --steps N   timed training steps per model, after 5 warm-up steps (default 20)
          --json      print one JSON object
        """;

    public int Run(Arguments args)
    {
        int steps = args.Int("steps", 20, 1, 10_000);
        bool json = args.Flag("json");
        args.EnsureAllUsed();
        var result = Bench.Run(steps, json ? null : Console.WriteLine);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                threads = result.Threads,
                matmul_peak_gflops = Math.Round(result.MatmulPeakGflops, 1),
                nb01_train_ms = Math.Round(result.Nb01.TrainStepMs, 2),
                nb01_train_gflops = Math.Round(result.Nb01.TrainGflops, 2),
                nb01_eval_samples_per_s = Math.Round(result.Nb01.EvalSamplesPerSecond, 0),
                nb03_train_ms = Math.Round(result.Nb03.TrainStepMs, 2),
                nb03_train_gflops = Math.Round(result.Nb03.TrainGflops, 2),
                nb03_eval_samples_per_s = Math.Round(result.Nb03.EvalSamplesPerSecond, 0),
                nb03_peak_fraction = Math.Round(result.Nb03PeakFraction, 3),
                nb03_phases_ms = new
                {
                    forward = Math.Round(result.Nb03.Phases.Forward, 2),
                    backward = Math.Round(result.Nb03.Phases.Backward, 2),
                    clip = Math.Round(result.Nb03.Phases.Clip, 2),
                    adamw = Math.Round(result.Nb03.Phases.Optimizer, 2),
                },
                steps,
            }));
        }
        else
        {
            Console.WriteLine($"notebook-03 training step: {result.Nb03PeakFraction:P0} of the matmul peak");
        }
        return 0;
    }
}
