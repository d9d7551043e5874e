using System.CommandLine;
using System.Text.Json.Nodes;
using PrefixLab.Benchmarks;

namespace PrefixLab.Cli.Commands;

internal sealed class BenchCommand : CliCommand
{
    // What --json reports, each measure once: a run's object and the medians over runs read the same list.
    private static readonly (string Key, Func<BenchResult, double> Of, int Digits)[] Measures =
    [
        ("matmul_peak_gflops", r => r.MatmulPeakGflops, 1),
        ("nb01_train_ms", r => r.Nb01.TrainStepMs, 2),
        ("nb01_train_gflops", r => r.Nb01.TrainGflops, 2),
        ("nb01_eval_samples_per_s", r => r.Nb01.EvalSamplesPerSecond, 0),
        ("nb03_train_ms", r => r.Nb03.TrainStepMs, 2),
        ("nb03_train_gflops", r => r.Nb03.TrainGflops, 2),
        ("nb03_eval_samples_per_s", r => r.Nb03.EvalSamplesPerSecond, 0),
        ("nb03_peak_fraction", r => r.Nb03PeakFraction, 3),
        ("nb03_eval_ms_per_sample", r => r.Nb03EvalMsPerSample, 3),
        ("nb01_bf16_train_ms", r => r.Nb01Bf16.TrainStepMs, 2),
        ("nb03_bf16_train_ms", r => r.Nb03Bf16.TrainStepMs, 2),
        ("nb03_bf16_train_gflops", r => r.Nb03Bf16.TrainGflops, 2),
    ];

    // With --reference: the reference's own figures, and ours as multiples of them (each run's ratio, then the median).
    private static readonly (string Key, Func<BenchResult, double> Of, int Digits)[] ReferenceMeasures =
    [
        ("reference_nb03_train_ms", r => r.Reference!.Nb03TrainMs, 2),
        ("reference_nb03_eval_ms_per_sample", r => r.Reference!.Nb03EvalMsPerSample, 3),
        ("nb03_train_speedup", r => r.Nb03TrainSpeedup, 2),
        ("nb03_bf16_train_speedup", r => r.Nb03Bf16TrainSpeedup, 2),
        ("nb03_eval_speedup", r => r.Nb03EvalSpeedup, 2),
    ];

    private static readonly (string Key, Func<BenchResult, double> Of)[] Phases =
    [
        ("forward", r => r.Nb03.Phases.Forward),
        ("backward", r => r.Nb03.Phases.Backward),
        ("clip", r => r.Nb03.Phases.Clip),
        ("adamw", r => r.Nb03.Phases.Optimizer),
    ];

    private readonly Option<int> stepsOption = Opt.Int("--steps", "timed training steps per model, after 5 warm-up steps", 20, 1, 10_000);
    private readonly Option<int> repeatOption = Opt.Int("--repeat", "run the whole benchmark R times in a row and report each run and the medians (on a shared machine one run can be 10-20% off the next)", 1, 1, 100, "R");
    private readonly Option<bool> jsonOption = Opt.Flag("--json", "print one JSON object: the measures (medians over the runs), and with R > 1 each run's measures under \"runs\"");
    private readonly Option<string?> referenceOption = Opt.Text("--reference", "SCRIPT",
        "after each run, run the PyTorch reference SCRIPT (scripts/bench-pytorch.py) on the same threads and report our step and greedy evaluation as multiples of its");
    private readonly Option<string> pythonOption = Opt.TextOr("--python", "PATH", "the Python that runs --reference (it needs torch)", "/usr/bin/python3");
    private readonly Option<string?> llamaOption = Opt.Text("--llama", "DIR", "instead: load, prefill and decode speed and peak memory of the Llama-family checkpoint in DIR (one line; peak memory is the process's, so one compute type a run)");
    private readonly Option<string> dtypeOption = Opt.TextOr("--dtype", "f32|bf16", "with --llama: the compute type", "f32");
    private readonly Option<int> promptOption = Opt.Int("--prompt", "with --llama: prompt tokens of the prefill", 128, 1, 1 << 20);
    private readonly Option<int> decodeOption = Opt.Int("--decode", "with --llama: greedy tokens decoded with the cache", 64, 1, 1 << 20);

    public BenchCommand()
        : base("bench", "time training steps and evaluation against this machine's matmul peak")
    {
        Declare([stepsOption, repeatOption, jsonOption, referenceOption, pythonOption, llamaOption, dtypeOption, promptOption, decodeOption]);
    }

    protected override int Run(ParseResult parse)
    {
        int steps = parse.GetValue(stepsOption);
        int repeat = parse.GetValue(repeatOption);
        bool json = parse.GetValue(jsonOption);
        if (parse.GetValue(llamaOption) is { } llama)
        {
            string dtype = parse.GetValue(dtypeOption) ?? "f32";
            PrefixLabException.Check(dtype is "f32" or "bf16", $"--dtype must be f32 or bf16 (got '{dtype}')");
            return RunLlama(llama, dtype == "bf16" ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32, parse.GetValue(promptOption), parse.GetValue(decodeOption), json);
        }
        string? reference = parse.GetValue(referenceOption);
        string python = parse.GetValue(pythonOption)!;
        // Checked before the first run, so a wrong path costs no benchmark.
        PrefixLabException.Check(reference is null || File.Exists(reference), $"no reference script at '{reference}'");
        var runs = new List<BenchResult>();
        for (int i = 1; i <= repeat; i++)
        {
            if (repeat > 1)
            {
                // Progress goes to stderr, so that stdout stays one JSON object.
                (json ? Console.Error : Console.Out).WriteLine($"run {i} of {repeat}");
            }
            var run = Bench.Run(steps, json ? null : Console.WriteLine);
            if (reference is not null)
            {
                run = run with { Reference = PyTorchReference.Run(python, reference, steps, run.Threads) };
                if (!json)
                {
                    Console.WriteLine($"reference (torch {run.Reference.Torch}): nb03 train step {run.Reference.Nb03TrainMs:F1} ms, greedy {run.Reference.Nb03EvalMsPerSample:F2} ms per sample; " +
                        $"ours {run.Nb03TrainSpeedup:F2}x (f32), {run.Nb03Bf16TrainSpeedup:F2}x (bf16), greedy {run.Nb03EvalSpeedup:F2}x");
                }
            }
            runs.Add(run);
        }
        if (json)
        {
            var report = Describe(of => Bench.Median(runs.Select(of)));
            report["threads"] = runs[0].Threads;
            report["steps"] = steps;
            report["repeat"] = repeat;
            if (repeat > 1)
            {
                report["runs"] = new JsonArray([.. runs.Select(run => (JsonNode)Describe(of => of(run)))]);
            }
            Console.WriteLine(report.ToJsonString());
        }
        else if (repeat > 1)
        {
            var ms = runs.Select(r => r.Nb03.TrainStepMs).ToList();
            Console.WriteLine($"notebook-03 training step over {repeat} runs: median {Bench.Median(ms):F1} ms ({ms.Min():F1}-{ms.Max():F1}), " +
                $"median share of the matmul peak {Bench.Median(runs.Select(r => r.Nb03PeakFraction)):P0}, bf16 median {Bench.Median(runs.Select(r => r.Nb03Bf16.TrainStepMs)):F1} ms");
            if (reference is not null)
            {
                Console.WriteLine($"against the reference, medians of the runs' ratios: step {Bench.Median(runs.Select(r => r.Nb03TrainSpeedup)):F2}x (f32), " +
                    $"{Bench.Median(runs.Select(r => r.Nb03Bf16TrainSpeedup)):F2}x (bf16), greedy evaluation {Bench.Median(runs.Select(r => r.Nb03EvalSpeedup)):F2}x");
            }
        }
        else
        {
            Console.WriteLine($"notebook-03 training step: {runs[0].Nb03PeakFraction:P0} of the matmul peak");
        }
        return 0;
    }

    /// <summary>The Llama benchmark of <paramref name="directory"/> in <paramref name="dtype"/>: one line, JSON with <paramref name="json"/>.</summary>
    private static int RunLlama(string directory, TorchSharp.torch.ScalarType dtype, int prompt, int decode, bool json)
    {
        var r = LlamaBench.Run(directory, dtype, prompt, decode, json ? Console.Error.WriteLine : Console.WriteLine);
        var line = new JsonObject
        {
            ["impl"] = "prefixlab",
            ["dtype"] = r.Dtype,
            ["load_s"] = Math.Round(r.LoadSeconds, 2),
            ["weights_mb"] = Math.Round(r.WeightsMb),
            ["rss_before_load_mb"] = Math.Round(r.RssBeforeLoadMb),
            ["peak_rss_mb"] = Math.Round(r.PeakRssMb),
            ["peak_over_weights"] = Math.Round(r.PeakOverWeights, 2),
            ["prefill_tokens_per_s"] = Math.Round(r.PrefillTokensPerSecond, 2),
            ["decode_tokens_per_s"] = Math.Round(r.DecodeTokensPerSecond, 3),
            ["decode_weight_gb_per_s"] = Math.Round(r.DecodeWeightGbPerSecond, 2),
            ["copy_gb_per_s"] = Math.Round(r.CopyGbPerSecond, 2),
            ["bandwidth_fraction"] = Math.Round(r.BandwidthFraction, 3),
            ["loadavg_1m"] = File.Exists("/proc/loadavg") ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) : null,
        };
        Console.WriteLine(json ? line.ToJsonString() : $"{r.Dtype}: {line.ToJsonString()}");
        return 0;
    }

    /// <summary>The JSON measures, each value read through <paramref name="value"/>.</summary>
    private static JsonObject Describe(Func<Func<BenchResult, double>, double> value)
    {
        var report = new JsonObject();
        foreach (var (key, of, digits) in Measures)
        {
            report[key] = Math.Round(value(of), digits);
        }
        if (!double.IsNaN(value(r => r.Nb03TrainSpeedup)))
        {
            foreach (var (key, of, digits) in ReferenceMeasures)
            {
                report[key] = Math.Round(value(of), digits);
            }
        }
        var phases = new JsonObject();
        foreach (var (key, of) in Phases)
        {
            phases[key] = Math.Round(value(of), 2);
        }
        report["nb03_phases_ms"] = phases;
        return report;
    }
}
