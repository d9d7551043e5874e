using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tests.Cli;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Tuning;

/// <summary>
/// Adapter files written while one settings record held every method's fields (Files/LegacyAdapters:
/// a 1-layer model pretrained 5 steps, and each method tuned on it 3 steps, by that build's
/// <c>prefixlab tune</c>): each method reads its own fields from such a file and sets the others aside,
/// and the adapter computes what the same method and tensors compute.
/// </summary>
public sealed class LegacyAdapterTests
{
    private static readonly string Folder = TestModels.AboveTestBinaries(Path.Combine("tests", "PrefixLab.Tests", "Files", "LegacyAdapters"), Directory.Exists);

    /// <summary>What the files' settings mean, as each method's own record.</summary>
    public static TheoryData<string, TuningSettings> Files => new()
    {
        { "prefix", new PromptSettings { PrefixSize = 2 } },
        { "soft-prompt", new PromptSettings { PrefixSize = 2, InitStd = 0.5 } },
        { "prefix-kv", new PrefixKvSettings { PrefixSize = 2, KvPositions = KvPositions.AfterPrefix } },
        { "hard-prompt", new HardPromptSettings { PrefixSize = 2, Tokens = [3, 5] } },
        { "lora", new LoraSettings { Rank = 2, Alpha = 3 } },
        { "ia3", new Ia3Settings() },
    };

    [Theory]
    [MemberData(nameof(Files))]
    public void An_adapter_with_every_methods_settings_loads_as_its_own_method(string method, TuningSettings expected)
    {
        string path = Path.Combine(Folder, $"{method}.safetensors");
        var stored = JsonDocument.Parse(SafeTensors.ReadMetadata(path)["adapter"]).RootElement.GetProperty("settings");
        string[] union = ["prefix_size", "rank", "alpha", "targets", "tokens", "projection_hidden", "init_std"];
        Assert.All(union, field => Assert.True(stored.TryGetProperty(field, out _), $"{method}: the fixture lacks {field}"));

        var (model, _) = ModelFile.Load(Path.Combine(Folder, "base.safetensors"));
        using var owned = model;
        model.eval();
        using var tokens = tensor(new long[] { 0, 0, 1, 2, 3, 4 }, [1, 6]);
        var tensors = SafeTensors.Load(path).Tensors;
        Tensor loadedOutput;
        var (loaded, info) = AdapterFile.Load(path, model);
        using (loaded)
        {
            Assert.Equal(JsonSerializer.Serialize(expected, ModelFile.Json), JsonSerializer.Serialize(info.Settings, ModelFile.Json));
            Assert.Equal(expected.GetType(), loaded.Settings.GetType());
            foreach (var (name, value) in loaded.SaveTensors())
            {
                Assert.True(TestModels.Same(tensors[name].to_type(value.dtype), value.detach()), $"{method}: {name} differs from the file's");
            }
            using var noGrad = no_grad();
            loadedOutput = model.Forward(tokens);
        }
        // The same method built from its own settings, with the file's tensors, computes the same.
        using (var fresh = TuningMethods.Create(method, model, expected))
        {
            fresh.LoadTensors(tensors);
            using var noGrad = no_grad();
            Assert.True(TestModels.Same(loadedOutput, model.Forward(tokens)), $"{method}: outputs differ");
        }
        using (no_grad())
        {
            Assert.False(method != "hard-prompt" && TestModels.Same(loadedOutput, model.Forward(tokens)), $"{method}: the adapter changes nothing");
        }
    }

    [Fact]
    public void A_checkpoint_of_a_run_from_that_build_is_refused_rather_than_resumed()
    {
        string dir = TestModels.TempDirectory();
        string output = Path.Combine(dir, "lora.safetensors");
        File.Copy(Path.Combine(Folder, "lora.ckpt.safetensors"), Path.Combine(dir, "lora.ckpt.safetensors"));
        var (code, _, stderr) = CliTests.Run("tune", "--model", Path.Combine(Folder, "base.safetensors"), "--method", "lora", "--rank", "2", "--alpha", "3",
            "--task", "ascending", "--iters", "3", "--batch", "4", "--out", output, "--no-tensorboard", "--resume");
        Assert.Equal(2, code);
        Assert.Contains("belongs to a different run", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(File.Exists(output));
    }
}
