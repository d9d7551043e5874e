using PrefixLab.Model;
using PrefixLab.Tasks;
using PrefixLab.Training;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Tuning;

public class TuningMethodTests
{
    public static TheoryData<string> TrainedMethods => ["soft-prompt", "prefix", "prefix-kv", "lora"];

    public static TheoryData<string> AllAdapters => ["hard-prompt", "soft-prompt", "prefix", "prefix-kv", "lora"];

    [Fact]
    public void Counts_follow_the_formulas_and_notebook_04_matches_12288()
    {
        // Notebook 04: 4 layers, 4 heads, width 256, P = 12.
        using var model = TestModels.Create(layers: 4, heads: 4, width: 256, blockSize: 31);
        const int L = 4, E = 256, P = 12;
        var settings = new PromptSettings { PrefixSize = P };
        var lora = new LoraSettings { Rank = 1 };
        Assert.Equal(L * P * E, ParameterBudget.Count(model, "prefix", settings));
        Assert.Equal(12_288, ParameterBudget.Count(model, "prefix", settings));
        Assert.Equal(12_288, ParameterBudget.Count(model, "lora", lora)); // per layer r(E+4E) + r(4E+E) + r(E+E)
        Assert.Equal(P * E, ParameterBudget.Count(model, "soft-prompt", settings));
        Assert.Equal(L * 2 * P * E, ParameterBudget.Count(model, "prefix-kv", new PrefixKvSettings { PrefixSize = P }));
        const int H = 64;
        Assert.Equal((P * E) + (E * H) + H + (H * 2 * L * E) + (2 * L * E), ParameterBudget.Count(model, "prefix-kv", new PrefixKvSettings { PrefixSize = P, ProjectionHidden = H }));
        Assert.Equal(L * 12 * 3 * E, ParameterBudget.Count(model, "lora", lora with { Rank = 3 }));
        Assert.Equal(L * 4 * (E + (3 * E)), ParameterBudget.Count(model, "lora", lora with { Rank = 4, Targets = ["c_attn"] })); // r(E + 3E) per layer
        Assert.Equal(0, ParameterBudget.Count(model, "hard-prompt", new HardPromptSettings { PrefixSize = P, Tokens = [.. Enumerable.Repeat(3, P)] }));
        Assert.Equal(model.parameters().Sum(p => p.numel()), ParameterBudget.Count(model, "full", new FullSettings()));

        var match = ParameterBudget.Match(model, "prefix", settings, 12_288);
        Assert.Equal((12, 12_288L), (((PromptSettings)match.Settings).PrefixSize, match.Count));
        var none = ParameterBudget.Match(model, "prefix", settings, 12_300);
        Assert.Equal(12_288, none.Count);
    }

    [Theory]
    [MemberData(nameof(TrainedMethods))]
    public void Training_a_method_leaves_the_base_weights_bit_identical(string name)
    {
        using var model = TestModels.Create(layers: 2, blockSize: 21);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using (var method = TuningMethods.Create(name, model, TestSettings.For(name, prefixSize: 2)))
        {
            Train(model, method, steps: 5, lr: 1e-2);
            if (method is Lora lora)
            {
                lora.Merge();
                lora.Unmerge();
            }
        }
        Assert.All(model.state_dict(), kv => Assert.True(TestModels.Same(before[kv.Key], kv.Value), kv.Key));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Merged_lora_gives_the_logits_of_unmerged_lora()
    {
        using var model = TestModels.Create(layers: 2, blockSize: 21);
        using var lora = new Lora(model, new LoraSettings { Rank = 2, Alpha = 4 });
        Train(model, lora, steps: 5, lr: 1e-2);
        var tokens = TestModels.RandomTokens(4, 20);
        using var noGrad = no_grad();
        var unmerged = model.Forward(tokens);
        var plain = model.state_dict()["transformer.h.0.mlp.c_fc.weight"].clone();
        lora.Merge();
        var merged = model.Forward(tokens);
        Assert.False(TestModels.Same(plain, model.state_dict()["transformer.h.0.mlp.c_fc.weight"]));
        Assert.True(unmerged.allclose(merged, rtol: 1e-4, atol: 1e-5));
        lora.Unmerge();
        Assert.True(TestModels.Same(unmerged, model.Forward(tokens)));
    }

    [Theory]
    [MemberData(nameof(AllAdapters))]
    public void Save_then_load_gives_identical_outputs(string name)
    {
        string path = Path.Combine(TestModels.TempDirectory(), "adapter.safetensors");
        using var model = TestModels.Create(layers: 2, blockSize: 21);
        var settings = Settings(name);
        var tokens = TestModels.RandomTokens(3, 19); // a prefix-kv of 2 leaves 19 of the 21 positions
        Tensor expected;
        using (var method = TuningMethods.Create(name, model, settings))
        {
            if (method.Parameters.Count > 0)
            {
                Train(model, method, steps: 3, lr: 1e-2);
            }
            using (no_grad())
            {
                expected = model.Forward(tokens);
            }
            AdapterFile.Save(path, method, new AdapterInfo(name, settings, AdapterFile.Fingerprint(model), 2, "ascending", 3));
        }
        using var noGrad = no_grad();
        Assert.False(TestModels.Same(expected, model.Forward(tokens))); // detached: the plain model differs
        var (loaded, info) = AdapterFile.Load(path, model);
        using (loaded)
        {
            Assert.Equal(name, info.Method);
            Assert.True(expected.allclose(model.Forward(tokens), rtol: 1e-5, atol: 1e-6));
        }
    }

    [Theory]
    [MemberData(nameof(AllAdapters))]
    public void Cached_generation_with_an_adapter_equals_uncached(string name)
    {
        using var model = TestModels.Create(layers: 2, blockSize: 40);
        using var method = TuningMethods.Create(name, model, Settings(name));
        if (method.Parameters.Count > 0)
        {
            Train(model, method, steps: 3, lr: 1e-2);
        }
        var prompts = TestModels.RandomTokens(8, 12);
        var cached = Generation.Greedy(model, prompts, 15, useCache: true);
        var uncached = Generation.Greedy(model, prompts, 15, useCache: false);
        Assert.Equal(uncached.data<long>().ToArray(), cached.data<long>().ToArray());
    }

    [Fact]
    public void An_adapter_on_another_base_model_is_refused()
    {
        string path = Path.Combine(TestModels.TempDirectory(), "adapter.safetensors");
        using var model = TestModels.Create(layers: 2, blockSize: 21, seed: 1);
        using var other = TestModels.Create(layers: 2, blockSize: 21, seed: 2);
        var settings = new PromptSettings { PrefixSize = 2 };
        using (var prefix = new Prefix(model, settings))
        {
            AdapterFile.Save(path, prefix, new AdapterInfo("prefix", settings, AdapterFile.Fingerprint(model), 2, null, 0));
        }
        var error = Assert.Throws<PrefixLabException>(() => AdapterFile.Load(path, other));
        Assert.Contains("another base model", error.Message);
    }

    [Fact]
    public void Full_fine_tuning_trains_every_parameter_in_training_mode()
    {
        using var model = TestModels.Create(layers: 1, blockSize: 21);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var full = new FullFineTune(model, new FullSettings());
        Assert.True(full.TrainsBase);
        Train(model, full, steps: 3, lr: 1e-3);
        Assert.All(model.state_dict(), kv => Assert.False(TestModels.Same(before[kv.Key], kv.Value), kv.Key));
    }

    internal static TuningSettings Settings(string name) => name switch
    {
        "hard-prompt" => TestSettings.For(name, prefixSize: 2, tokens: [3, 5]),
        "prefix-kv" => TestSettings.For(name, prefixSize: 2, projection: 16),
        _ => TestSettings.For(name, prefixSize: 2, rank: 2),
    };

    internal static void Train(Gpt model, ITuningMethod method, int steps, double lr)
    {
        var task = TaskRegistry.Default.Get("descending");
        var layout = SequenceLayout.For(task, method.InputPadding(1));
        var options = new TrainOptions { Iterations = steps, LearningRate = lr, BatchSize = 8 };
        Trainer.Run(MethodTraining.ForMethod(model, method, task, layout, options, 0.01, "test"), options);
    }
}
