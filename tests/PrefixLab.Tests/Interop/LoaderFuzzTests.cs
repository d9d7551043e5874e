using System.Collections.Concurrent;
using System.Diagnostics;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// Fuzzes every loader with seeded mutations of real files (<see cref="LoaderFixtures"/>): the only
/// right outcomes are a one-line <see cref="PrefixLabException"/>, or a load whose weights equal the
/// original's except where the mutation changed data bytes. Failures name the case's seed to reproduce.
/// </summary>
public class LoaderFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>What was mutated: a file kind, and how it is loaded.</summary>
    internal enum Target
    {
        Model,
        Adapter,
        Gpt2,
        Gpt2Sharded,
        Peft,
    }

    private static readonly string[] Gpt2Keys = ["n_layer", "n_embd", "n_head", "vocab_size", "n_positions", "n_ctx", "n_inner", "activation_function", "layer_norm_epsilon", "resid_pdrop", "tie_word_embeddings", "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "model_type"];
    private static readonly string[] PeftKeys = ["peft_type", "r", "lora_alpha", "target_modules", "bias", "use_rslora", "fan_in_fan_out", "rank_pattern", "alpha_pattern", "num_virtual_tokens"];

    /// <summary>Every (target, class) pair the fuzz covers.</summary>
    internal static readonly (Target Target, string Class)[] Pairs =
    [
        .. FileMutations.SafetensorsClasses.Append("metadata").Select(c => (Target.Model, c)),
        .. FileMutations.SafetensorsClasses.Append("metadata").Select(c => (Target.Adapter, c)),
        .. FileMutations.SafetensorsClasses.Append("config").Append("config").Select(c => (Target.Gpt2, c)),
        (Target.Gpt2Sharded, "index"), (Target.Gpt2Sharded, "index"), (Target.Gpt2Sharded, "shard"),
        .. FileMutations.SafetensorsClasses.Append("config").Select(c => (Target.Peft, c)),
    ];

    [Fact]
    public void Every_mutated_file_is_refused_with_one_line_or_loads_its_weights()
    {
        const int Cases = 2400;
        const int Seed = 17_000;
        using var fx = new LoaderFixtures();
        var counts = new SortedDictionary<string, int[]>(StringComparer.Ordinal); // refused, equal, data changed
        var failures = new List<string>();
        string scratch = Path.Combine(fx.Root, "scratch");
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < Cases; i++)
        {
            var (target, cls) = Pairs[i % Pairs.Length];
            if (Directory.Exists(scratch))
            {
                Directory.Delete(scratch, recursive: true);
            }
            var (path, mutation) = Make(fx, target, cls, new Random(Seed + i), scratch);
            string key = $"{mutation.Class,-13} {target}";
            var tally = counts.TryGetValue(key, out var t) ? t : counts[key] = new int[3];
            string? failure = Check(fx, target, path, mutation, tally);
            if (failure is not null)
            {
                failures.Add($"case {i} (seed {Seed + i}, {target}, {mutation.Description}): {failure}");
            }
        }
        output.WriteLine($"{Cases} mutations in {clock.Elapsed.TotalSeconds:F1} s (seed {Seed}); per class and target: refused / loaded equal / loaded with changed data values");
        foreach (var (key, tally) in counts)
        {
            output.WriteLine($"  {key,-26} {tally[0],5} {tally[1],5} {tally[2],5}");
        }
        var byClass = counts.GroupBy(kv => kv.Key.Split(' ')[0]).Select(g => $"{g.Key} {g.Sum(kv => kv.Value.Sum())}");
        output.WriteLine("per class: " + string.Join(", ", byClass));
        Assert.True(failures.Count == 0, $"{failures.Count} wrong outcomes:\n" + string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void A_sample_of_mutated_files_through_the_cli_exits_2_with_one_line_or_0()
    {
        const int Cases = 240;
        const int Seed = 91_000;
        using var fx = new LoaderFixtures();
        var runs = new List<(int Index, Target Target, Mutation Mutation, string[] Args)>();
        for (int i = 0; i < Cases; i++)
        {
            var (target, cls) = Pairs[i % Pairs.Length];
            var (path, mutation) = Make(fx, target, cls, new Random(Seed + i), Path.Combine(fx.Root, $"cli-{i}"));
            runs.Add((i, target, mutation, CliArgs(fx, target, path)));
        }
        var failures = new ConcurrentBag<string>();
        int refused = 0, loaded = 0;
        var clock = Stopwatch.StartNew();
        Parallel.ForEach(runs, new ParallelOptions { MaxDegreeOfParallelism = 2 }, run =>
        {
            var (code, stderr, timedOut) = RunCapped(run.Args);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            bool right = !timedOut && (code == 0 ? !run.Mutation.MustRefuse : code == 2 && lines.Length == 1);
            Interlocked.Increment(ref (code == 0 ? ref loaded : ref refused));
            if (!right)
            {
                failures.Add($"case {run.Index} (seed {Seed + run.Index}, {run.Target}, {run.Mutation.Description}): exit {code}{(timedOut ? " (timed out)" : "")}, stderr: {stderr.Trim()}");
            }
        });
        output.WriteLine($"{Cases} CLI runs (ulimit -v {MemoryCapKb} KB, {TimeLimit.TotalSeconds} s each, 2 at a time) in {clock.Elapsed.TotalSeconds:F1} s: {refused} exit 2, {loaded} exit 0");
        Assert.True(failures.IsEmpty, $"{failures.Count} wrong outcomes:\n" + string.Join("\n", failures.Take(20)));
    }

    /// <summary>Virtual memory cap of each CLI run: a loader that sizes memory by an unchecked number dies here.</summary>
    internal const long MemoryCapKb = 8_000_000;

    /// <summary>Wall time a CLI run on these tiny files may take.</summary>
    internal static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(90);

    /// <summary>Runs the CLI under <see cref="MemoryCapKb"/> and <see cref="TimeLimit"/>.</summary>
    internal static (int Code, string Stderr, bool TimedOut) RunCapped(params string[] args)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-c", $"ulimit -v {MemoryCapKb}; exec dotnet \"$0\" \"$@\"", Path.Combine(AppContext.BaseDirectory, "PrefixLab.Cli.dll"), .. args])
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeLimit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, stderr.Result, true);
        }
        _ = stdout.Result;
        return (process.ExitCode, stderr.Result, false);
    }

    /// <summary>Writes the mutated artefact of a case under <paramref name="dir"/>; the path to load.</summary>
    internal static (string Path, Mutation What) Make(LoaderFixtures fx, Target target, string cls, Random rng, string dir)
    {
        Directory.CreateDirectory(dir);
        switch (target)
        {
            case Target.Model:
            case Target.Adapter:
                {
                    string original = target == Target.Model ? fx.ModelPath : fx.AdapterPath;
                    var bytes = File.ReadAllBytes(original);
                    var (mutated, what) = cls == "metadata"
                        ? FileMutations.Metadata(bytes, target == Target.Model ? "model" : "adapter", rng)
                        : FileMutations.Safetensors(cls, bytes, rng, _ => true);
                    string path = Path.Combine(dir, Path.GetFileName(original));
                    File.WriteAllBytes(path, mutated);
                    return (path, what);
                }
            case Target.Gpt2:
            case Target.Gpt2Sharded:
            case Target.Peft:
                {
                    string original = target switch { Target.Gpt2 => fx.Gpt2Dir, Target.Gpt2Sharded => fx.Gpt2ShardedDir, _ => fx.PeftDir };
                    string folder = Path.Combine(dir, Path.GetFileName(original));
                    Directory.CreateDirectory(folder);
                    foreach (var file in Directory.GetFiles(original))
                    {
                        File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
                    }
                    string configFile = target == Target.Peft ? "adapter_config.json" : "config.json";
                    string weights = target switch
                    {
                        Target.Gpt2 => "model.safetensors",
                        Target.Peft => "adapter_model.safetensors",
                        _ => $"model-0000{rng.Next(1, 3)}-of-00002.safetensors",
                    };
                    string file2 = Path.Combine(folder, cls switch { "config" => configFile, "index" => "model.safetensors.index.json", _ => weights });
                    var bytes = File.ReadAllBytes(file2);
                    var (mutated, what) = cls switch
                    {
                        "config" => FileMutations.JsonFile(bytes, rng, target == Target.Peft ? PeftKeys : Gpt2Keys),
                        "index" => FileMutations.Index(bytes, rng),
                        "shard" => FileMutations.Safetensors(FileMutations.SafetensorsClasses[rng.Next(FileMutations.SafetensorsClasses.Length)], bytes, rng, Gpt2Loads),
                        _ => FileMutations.Safetensors(cls, bytes, rng, target == Target.Peft ? _ => true : Gpt2Loads),
                    };
                    File.WriteAllBytes(file2, mutated);
                    return (folder, what with { Description = $"{Path.GetFileName(file2)}: {what.Description}" });
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(target));
        }
    }

    /// <summary>The command a user would run on the artefact.</summary>
    internal static string[] CliArgs(LoaderFixtures fx, Target target, string path) => target switch
    {
        Target.Model => ["eval", "--model", path, "--task", LoaderFixtures.Task, "--samples", "2", "--batch", "2"],
        Target.Adapter => ["eval", "--model", fx.ModelPath, "--adapter", path, "--task", LoaderFixtures.Task, "--samples", "2", "--batch", "2"],
        Target.Peft => ["generate", "--model", fx.Gpt2Dir, "--adapter", path, "--tokens", "1 2 3", "--max-new", "2"],
        _ => ["generate", "--model", path, "--tokens", "1 2 3", "--max-new", "2"],
    };

    /// <summary>Whether the GPT-2 loader reads a tensor (it skips the tied head and the mask buffers).</summary>
    private static bool Gpt2Loads(string name) => !name.EndsWith(".attn.bias", StringComparison.Ordinal) && name != "lm_head.weight";

    /// <summary>Loads one case in-process; null when the outcome is right, else what was wrong.</summary>
    private static string? Check(LoaderFixtures fx, Target target, string path, Mutation mutation, int[] tally)
    {
        using var scope = NewDisposeScope();
        try
        {
            var (expected, loaded) = target switch
            {
                Target.Model => (fx.ModelWeights, LoaderFixtures.LoadModel(path)),
                Target.Adapter => (fx.AdapterWeights, fx.LoadAdapter(path)),
                Target.Peft => (fx.PeftWeights, fx.LoadPeft(path)),
                _ => (fx.Gpt2Weights, LoaderFixtures.LoadModel(path)),
            };
            long differences = LoaderFixtures.Differences(expected, loaded);
            if (mutation.MustRefuse)
            {
                return "loaded a file with a non-finite weight";
            }
            if (differences < 0 || differences > mutation.DataBytes)
            {
                return $"loaded, but {(differences < 0 ? "with other names or shapes" : $"{differences} values differ")}";
            }
            tally[differences == 0 ? 1 : 2]++;
            return null;
        }
        catch (PrefixLabException e)
        {
            tally[0]++;
            return e.Message.Contains('\n') || e.Message.Contains('\r') ? $"a message of several lines: {e.Message}" : null;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
        }
    }
}
