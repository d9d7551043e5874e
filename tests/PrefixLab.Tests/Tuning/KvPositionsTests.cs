using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Tuning;

/// <summary>Where a key/value prefix puts the content on the position embedding, and what files say about it.</summary>
public class KvPositionsTests
{
    [Fact]
    public void A_key_value_prefix_puts_the_content_after_it_and_cached_generation_agrees()
    {
        using var model = TestModels.Create(layers: 2, blockSize: 21, seed: 2);
        using var tokens = TestModels.RandomTokens(2, 12, seed: 4);
        random.manual_seed(5);
        using var kv = TuningMethods.Create("prefix-kv", model, new PrefixKvSettings { PrefixSize = 3 });
        Assert.Equal(3, model.PositionShift);
        Assert.Equal(18, model.SequenceCapacity);
        using var noGrad = no_grad();
        using var logits = model.Forward(tokens);

        // The same keys and values with the content read from position 0: another function.
        var kvTensor = ((PrefixKv)kv).KeysValues().clone();
        kv.Dispose();
        Assert.Equal(0, model.PositionShift);
        using var fromZero = TuningMethods.Create("prefix-kv", model, new PrefixKvSettings { PrefixSize = 3, KvPositions = KvPositions.FromZero });
        fromZero.LoadTensors(new Dictionary<string, Tensor> { ["prefix.keys_values"] = kvTensor });
        Assert.Equal(0, model.PositionShift);
        using var legacy = model.Forward(tokens);
        Assert.True((legacy - logits).abs().max().item<float>() > 1e-2);

        // Cached greedy decoding continues at the shifted positions too.
        fromZero.Dispose();
        using var again = TuningMethods.Create("prefix-kv", model, new PrefixKvSettings { PrefixSize = 3 });
        again.LoadTensors(new Dictionary<string, Tensor> { ["prefix.keys_values"] = kvTensor });
        Assert.True(model.Forward(tokens).allclose(logits, rtol: 1e-5, atol: 1e-6));
        using var cached = Generation.Greedy(model, tokens, 6, useCache: true);
        using var uncached = Generation.Greedy(model, tokens, 6, useCache: false);
        Assert.Equal(uncached.data<long>().ToArray(), cached.data<long>().ToArray());
        var e = Assert.Throws<PrefixLabException>(() => model.Forward(TestModels.RandomTokens(1, 19)));
        Assert.Contains("19 positions after 3 prefix positions exceeds the model's block size 21", e.Message);
    }

    [Fact]
    public void A_file_from_before_the_convention_keeps_its_meaning_and_new_files_say_theirs()
    {
        string dir = TestModels.TempDirectory();
        using var model = TestModels.Create(layers: 2, blockSize: 21, seed: 2);
        using var tokens = TestModels.RandomTokens(2, 12, seed: 4);
        string fingerprint = AdapterFile.Fingerprint(model);
        var settings = new PrefixKvSettings { PrefixSize = 2 };
        random.manual_seed(6);
        Tensor fromZero, afterPrefix;
        Dictionary<string, Tensor> tensors;
        using (var old = TuningMethods.Create("prefix-kv", model, settings with { KvPositions = KvPositions.FromZero }))
        using (no_grad())
        {
            fromZero = model.Forward(tokens);
            tensors = old.SaveTensors().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
            // What PrefixLab wrote before the field existed: the same description without "positions".
            var info = new AdapterInfo("prefix-kv", settings, fingerprint, 1, "ascending", 10);
            string json = JsonSerializer.Serialize(info, ModelFile.Json);
            Assert.DoesNotContain("positions", json);
            SafeTensors.Save(Path.Combine(dir, "old.safetensors"), tensors, new Dictionary<string, string> { ["format"] = ModelFile.Format, ["kind"] = "adapter", ["adapter"] = json });
        }
        using (var current = TuningMethods.Create("prefix-kv", model, settings))
        using (no_grad())
        {
            current.LoadTensors(tensors);
            afterPrefix = model.Forward(tokens);
            AdapterFile.Save(Path.Combine(dir, "new.safetensors"), current, new AdapterInfo("prefix-kv", settings, fingerprint, 1, "ascending", 10));
        }
        Assert.True((fromZero - afterPrefix).abs().max().item<float>() > 1e-2);

        using var noGrad = no_grad();
        var (oldMethod, oldInfo) = AdapterFile.Load(Path.Combine(dir, "old.safetensors"), model, fingerprint);
        using (oldMethod)
        {
            Assert.Null(oldInfo.Positions);
            Assert.Equal(KvPositions.FromZero, ((PrefixKv)oldMethod).Settings.KvPositions);
            Assert.True(model.Forward(tokens).allclose(fromZero, rtol: 1e-5, atol: 1e-6));
            // PEFT's layout has no place for content at 0: exporting it is refused with what to do.
            var e = Assert.Throws<PrefixLabException>(() => PeftFormat.Save(Path.Combine(dir, "peft"), oldMethod, model, "m"));
            Assert.Contains("retrain", e.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "peft")));
        }
        Assert.Contains("\"positions\":\"AfterPrefix\"", SafeTensors.ReadMetadata(Path.Combine(dir, "new.safetensors"))["adapter"]);
        var (newMethod, newInfo) = AdapterFile.Load(Path.Combine(dir, "new.safetensors"), model, fingerprint);
        using (newMethod)
        {
            Assert.Equal(KvPositions.AfterPrefix, newInfo.Positions);
            Assert.True(model.Forward(tokens).allclose(afterPrefix, rtol: 1e-5, atol: 1e-6));
        }
    }

    [Fact]
    public void A_key_value_prefix_takes_the_place_of_the_model_padding_it_covers()
    {
        using var model = TestModels.Create(layers: 1, blockSize: 21);
        using (var kv = TuningMethods.Create("prefix-kv", model, new PrefixKvSettings { PrefixSize = 2 }))
        {
            Assert.Equal(1, kv.InputPadding(3)); // content stays at position 3, where pretraining put it
            Assert.Equal(0, kv.InputPadding(1));
        }
        using var soft = TuningMethods.Create("soft-prompt", model, new PromptSettings { PrefixSize = 2 });
        Assert.Equal(2, soft.InputPadding(3));
        using var legacy = TuningMethods.Create("prefix-kv", model, new PrefixKvSettings { PrefixSize = 2, KvPositions = KvPositions.FromZero });
        Assert.Equal(3, legacy.InputPadding(3));
    }
}
