using System.Globalization;
using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Tests.Cli;
using PrefixLab.Tuning;
using PrefixLab.Workflows;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Llama;

/// <summary>
/// Every tuning method on a small random Llama made by the independent PyTorch reference
/// (make_llama.py): it trains, its adapter goes through PEFT's format and back, the reference reads
/// PrefixLab's PEFT folders and PrefixLab reads the reference's, with the logits agreeing.
/// </summary>
public class LlamaTuningTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int NewTokens = 6;
    private static readonly long[] Ids = [5, 17, 42, 7, 99, 3];

    /// <summary>Each method and a learning rate at which a few steps show.</summary>
    public static TheoryData<string, double> Methods => new()
    {
        { "soft-prompt", 3e-2 },
        { "prefix", 3e-2 },
        { "prefix-kv", 3e-2 },
        { "lora", 2e-2 },
        { "ia3", 2e-2 },
        { "full", 2e-3 },
    };

    [SkippableTheory]
    [MemberData(nameof(Methods))]
    public void Every_method_trains_a_few_steps_on_a_Llama_and_its_loss_falls(string method, double lr)
    {
        string dir = PythonLlama.Checkpoint();
        var (model, info) = ModelLoader.Load(dir);
        using var _ = model;
        var settings = TuningMethods.Get(method).Settings(new Dictionary<string, object> { ["prefix-size"] = 3 }, 3, model.Family);
        using var tuning = TuneWorkflow.Attach(model, info, method, settings, seed: 3);
        // Full fine-tuning of a Hugging Face Llama is saved as a Hugging Face Llama folder.
        bool full = method == "full";
        string saved = Path.Combine(TestModels.TempDirectory(), full ? "tuned" : "adapter.safetensors");
        var options = tuning.Options(10, lr) with { BatchSize = 16, LogEvery = 1 };
        var losses = new List<double>();
        tuning.Run(new TuneRequest(TaskData.Of(TaskRegistry.Default.Get("ascending")), options, saved) { Format = full ? TuneFormat.HuggingFace : TuneFormat.PrefixLab, BaseModel = dir },
            (_, progress) => losses.Add(progress?.Loss ?? double.NaN));
        losses.RemoveAll(double.IsNaN);
        output.WriteLine($"{method}: loss {string.Join(" → ", losses.Select(l => l.ToString("F3", CultureInfo.InvariantCulture)))}");
        Assert.Equal(10, losses.Count);
        Assert.True(losses.TakeLast(3).Average() < losses[0] - 0.05, $"{method}: the loss did not fall ({losses[0]:F3} → {losses[^1]:F3})");

        // What was saved gives the trained model's logits back, exactly.
        int padding = tuning.InputPadding;
        var (mine, _) = Run(model, padding, Ids, 0);
        if (full)
        {
            var (reloaded, _) = ModelLoader.Load(saved);
            using (reloaded)
            {
                Assert.IsType<PrefixLab.Model.Llama>(reloaded);
                Assert.Equal(mine, Run(reloaded, padding, Ids, 0).Logits);
            }
            // The folder is a Hugging Face Llama the reference reads: float32 against its float64.
            Assert.InRange(MaxDifference(Reference(saved, Ids, null, 0).Logits, mine), 0, 1e-4);
        }
        else
        {
            tuning.Dispose();
            var (loaded, _) = AdapterFile.Load(saved, model);
            using (loaded)
            {
                Assert.Equal(mine, Run(model, padding, Ids, 0).Logits);
            }
        }
    }

    /// <summary>The PEFT-savable methods with the settings whose files the reference must read.</summary>
    public static TheoryData<string> PeftMethods => new() { "soft-prompt", "prefix-kv", "lora", "ia3" };

    [SkippableTheory]
    [MemberData(nameof(PeftMethods))]
    public void Adapters_written_by_PrefixLab_are_read_by_the_reference_and_back(string method)
    {
        string dir = PythonLlama.Checkpoint();
        var (model, _) = ModelLoader.Load(dir);
        using var _ = model;
        var settings = TuningMethods.Get(method).Settings(new Dictionary<string, object> { ["prefix-size"] = 3 }, 3, model.Family);
        string folder = Path.Combine(TestModels.TempDirectory(), "adapter");
        float[] mine;
        long[] continuation;
        int padding;
        using (var adapter = TuningMethods.Create(method, model, settings))
        {
            using (no_grad())
            {
                random.manual_seed(11);
                foreach (var p in adapter.Parameters)
                {
                    // LoRA's B starts at zero and IA³'s scales at one: make the update visible.
                    p.copy_(method == "ia3" ? 1 + (randn(p.shape) * 0.3) : randn(p.shape) * 0.4);
                }
            }
            PeftFormat.Save(folder, adapter, model, "models/small-llama");
            padding = adapter.InputPadding(0);
            (mine, continuation) = Run(model, padding, Ids, NewTokens);
        }
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, PeftFormat.ConfigFile))).RootElement;
        if (method == "lora")
        {
            Assert.Equal(["q_proj", "v_proj"], config.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
            Assert.False(config.GetProperty("fan_in_fan_out").GetBoolean());
        }

        var reference = Reference(dir, Ids, folder, NewTokens);
        double difference = MaxDifference(reference.Logits, mine);
        output.WriteLine($"{method}: largest logit difference from the reference {difference:E2}, smallest greedy margin {reference.Margin:E2}");
        Assert.InRange(difference, 0, 1e-4);
        Assert.True(reference.Margin > 2e-4, "the reference's greedy choices must be clear of the logit tolerance");
        Assert.Equal(reference.New, continuation);

        var (loaded, info) = AdapterFile.Load(folder, model);
        using (loaded)
        {
            Assert.Equal(padding, info.PrefixSize);
            var back = Run(model, info.PrefixSize, Ids, NewTokens);
            Assert.Equal(mine, back.Logits);
            Assert.Equal(continuation, back.New);
        }
    }

    [SkippableTheory]
    [InlineData("lora", "lora")]
    [InlineData("ia3", "ia3")]
    [InlineData("prefix", "prefix-kv")]
    [InlineData("prompt", "soft-prompt")]
    public void Adapters_written_by_the_reference_load_and_match_its_logits_and_continuations(string adapter, string method)
    {
        string dir = PythonLlama.Checkpoint();
        var (model, _) = ModelLoader.Load(dir);
        using var _ = model;
        var (attached, info) = AdapterFile.Load(Path.Combine(dir, "peft", adapter), model);
        using var __ = attached;
        Assert.Equal(method, attached.Name);
        double worst = 0;
        foreach (var item in PythonLlama.Reference(dir).GetProperty("peft_" + adapter).EnumerateArray())
        {
            long[] ids = PythonLlama.Ids(item.GetProperty("ids"));
            long[] expected = PythonLlama.Ids(item.GetProperty("new"));
            var (logits, next) = Run(model, info.PrefixSize, ids, expected.Length);
            worst = Math.Max(worst, MaxDifference([.. PythonLlama.Doubles(item.GetProperty("logits"))], logits));
            Assert.True(item.GetProperty("margin").GetDouble() > 2e-4, "the reference's greedy choices must be clear of the logit tolerance");
            Assert.Equal(expected, next);
        }
        output.WriteLine($"{adapter}: largest logit difference {worst:E2}");
        Assert.InRange(worst, 0, 1e-4);
    }

    [SkippableFact]
    public void Tune_on_a_Llama_folder_works_end_to_end_on_the_command_line()
    {
        string dir = PythonLlama.Checkpoint();
        string work = TestModels.TempDirectory();
        string[] common = ["--task", "ascending", "--iters", "3", "--batch", "8", "--no-tensorboard", "--log-every", "1"];

        string peft = Path.Combine(work, "lora");
        var run = CliTests.Run(["tune", "--model", dir, "--method", "lora", "--format", "peft", "--out", peft, .. common]);
        Assert.True(run.Code == 0, run.Stderr);
        Assert.True(File.Exists(Path.Combine(peft, PeftFormat.WeightsFile)));
        run = CliTests.Run("eval", "--model", dir, "--adapter", peft, "--task", "ascending", "--samples", "20");
        Assert.True(run.Code == 0, run.Stderr);

        string hf = Path.Combine(work, "full");
        run = CliTests.Run(["tune", "--model", dir, "--method", "full", "--format", "hf", "--dtype", "bf16", "--out", hf, .. common]);
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal("bfloat16", JsonDocument.Parse(File.ReadAllText(Path.Combine(hf, "config.json"))).RootElement.GetProperty("torch_dtype").GetString());
        run = CliTests.Run("generate", "--model", hf, "--tokens", "1 2 3", "--max-new", "4");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal(4, run.Stdout.Trim().Split(' ').Length);

        // A whole Llama has no PrefixLab model file: one line, before any training.
        run = CliTests.Run(["tune", "--model", dir, "--method", "full", "--out", Path.Combine(work, "full.safetensors"), .. common]);
        Assert.Equal(2, run.Code);
        Assert.Contains("--format hf", run.Stderr);
        Assert.Single(run.Stderr.Trim().Split('\n'));
        Assert.False(File.Exists(Path.Combine(work, "full.safetensors.log.jsonl")));
    }

    /// <summary>
    /// PrefixLab's logits of <paramref name="ids"/> (their rows only, flattened) after
    /// <paramref name="padding"/> padding rows, and its cached greedy continuation.
    /// </summary>
    private static (float[] Logits, long[] New) Run(ILanguageModel model, int padding, long[] ids, int newTokens)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var input = tensor([.. Enumerable.Repeat(0L, padding), .. ids], [1, padding + ids.Length]);
        var logits = model.Forward(input)[0, padding..].flatten();
        long[] next = newTokens > 0 ? Generation.Greedy(model, input, newTokens).data<long>().ToArray() : [];
        return (logits.data<float>().ToArray(), next);
    }

    /// <summary>The reference's float64 logits of <paramref name="ids"/> with an optional PEFT adapter, and its greedy continuation.</summary>
    private static (double[] Logits, long[] New, double Margin) Reference(string checkpoint, long[] ids, string? adapter, int newTokens)
    {
        List<string> args = ["logits", checkpoint, "--tokens", string.Join(' ', ids), "--greedy", newTokens.ToString(CultureInfo.InvariantCulture)];
        if (adapter is not null)
        {
            args.AddRange(["--adapter", adapter]);
        }
        using var json = JsonDocument.Parse(Interop.PythonGpt2.RunScript("make_llama.py", args));
        var root = json.RootElement;
        double margin = root.GetProperty("margin").ValueKind == JsonValueKind.Number ? root.GetProperty("margin").GetDouble() : double.PositiveInfinity;
        return (PythonLlama.Doubles(root.GetProperty("logits")), PythonLlama.Ids(root.GetProperty("continuation")), margin);
    }

    private static double MaxDifference(double[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        return expected.Zip(actual, (x, y) => Math.Abs(x - y)).Max();
    }
}
