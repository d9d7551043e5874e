using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Tests.Cli;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Tuning;

/// <summary>IA³, added by one file and one registration line, through every command that takes a method.</summary>
public class Ia3Tests
{
    [Fact]
    public void Tune_trains_it_eval_reads_it_params_counts_it_and_verify_sees_attention_move_where_a_prefix_leaves_it()
    {
        string dir = TestModels.TempDirectory();
        string basePath = Path.Combine(dir, "base.safetensors");
        string adapter = Path.Combine(dir, "ia3.safetensors");
        string prefix = Path.Combine(dir, "prefix.safetensors");
        using (var model = TestModels.Create(layers: 2, heads: 2, width: 16, blockSize: 20, seed: 3))
        {
            ModelFile.Save(basePath, model, new ModelInfo(model.Config, 1));
        }

        var (code, stdout, stderr) = CliTests.Run("tune", "--model", basePath, "--method", "ia3", "--task", "plus1", "--iters", "25", "--lr", "1", "--log-every", "1", "--no-tensorboard", "--out", adapter);
        Assert.True(code == 0, stderr);
        Assert.Contains("224 trainable parameters", stdout); // 2 layers × (3 · 16 + 4 · 16)
        var losses = File.ReadAllLines(RunFilesLog(adapter)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetDouble()).ToList();
        Assert.Equal(25, losses.Count);
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() - 0.01, $"loss did not fall: {string.Join(", ", losses)}");

        (code, stdout, stderr) = CliTests.Run("eval", "--model", basePath, "--adapter", adapter, "--task", "plus1", "--samples", "10", "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("\"samples\":10", stdout);

        (code, stdout, stderr) = CliTests.Run("params", "--model", basePath, "--method", "ia3");
        Assert.True(code == 0, stderr);
        Assert.Contains("ia3: 224 trainable parameters", stdout);
        (code, _, stderr) = CliTests.Run("params", "--model", basePath, "--method", "ia3", "--match", "lora:rank=1");
        Assert.Equal(2, code);
        Assert.Contains("method 'ia3' has no size to vary", stderr);
        (code, stdout, stderr) = CliTests.Run("params", "--model", basePath, "--method", "prefix", "--match", "ia3");
        Assert.True(code == 0, stderr);
        Assert.Contains("prefix with prefix size 7 has 224 trainable parameters, exactly as ia3", stdout);

        (code, _, stderr) = CliTests.Run("tune", "--model", basePath, "--method", "prefix", "--task", "plus1", "--iters", "5", "--no-tensorboard", "--out", prefix);
        Assert.True(code == 0, stderr);
        double ia3Shift = ContentAttentionError(basePath, adapter);
        double prefixShift = ContentAttentionError(basePath, prefix);
        Assert.InRange(ia3Shift, 1e-3, 1);
        Assert.InRange(prefixShift, 0, 1e-5);
    }

    [Fact]
    public void It_starts_as_the_identity_and_a_PEFT_folder_gives_back_the_same_logits()
    {
        using var model = TestModels.Create(layers: 2, heads: 2, width: 16, blockSize: 20, seed: 4);
        using var tokens = TestModels.RandomTokens(3, 12);
        using var plain = model.Forward(tokens);
        string folder = Path.Combine(TestModels.TempDirectory(), "peft");
        Tensor adapted;
        using (var ia3 = TuningMethods.Create("ia3", model, new Ia3Settings(), 1))
        {
            using (var start = model.Forward(tokens))
            {
                Assert.True(TestModels.Same(plain, start));
            }
            using (no_grad())
            {
                using var generator = new TorchSharp.torch.Generator(5);
                foreach (var p in ia3.Parameters)
                {
                    p.add_(randn(p.shape, generator: generator) * 0.3);
                }
            }
            adapted = model.Forward(tokens).detach();
            PeftFormat.Save(folder, ia3, model, "base");
        }
        Assert.True(model.Forward(tokens).eq(plain).all().item<bool>(), "disposing the adapter must restore the model");
        Assert.False(TestModels.Same(plain, adapted));
        var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, PeftFormat.ConfigFile))).RootElement;
        Assert.Equal("IA3", config.GetProperty("peft_type").GetString());
        Assert.Equal(["mlp.c_proj"], config.GetProperty("feedforward_modules").EnumerateArray().Select(e => e.GetString()));
        var (loaded, info) = AdapterFile.Load(folder, model);
        using (loaded)
        {
            Assert.Equal("ia3", info.Method);
            using var back = model.Forward(tokens);
            Assert.True(TestModels.Same(adapted, back));
        }
    }

    private static string RunFilesLog(string output) => Path.ChangeExtension(output, null) + ".log.jsonl";

    /// <summary>The largest change of the first layer's content attention that <c>verify --json</c> reports.</summary>
    private static double ContentAttentionError(string basePath, string adapter)
    {
        var (code, stdout, stderr) = CliTests.Run("verify", "--model", basePath, "--adapter", adapter, "--task", "plus1", "--samples", "8", "--json");
        Assert.True(code == 0, stderr);
        return JsonDocument.Parse(stdout).RootElement.GetProperty("heads").EnumerateArray()
            .Where(h => h.GetProperty("layer").GetInt32() == 0).Max(h => h.GetProperty("content_attention_error").GetDouble());
    }
}
