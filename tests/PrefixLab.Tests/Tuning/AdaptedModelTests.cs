using PrefixLab.Interop;
using PrefixLab.Tuning;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Tuning;

public class AdaptedModelTests
{
    [Theory]
    [InlineData("lora")]
    [InlineData("prefix")]
    [InlineData("prefix-kv")]
    public void In_float64_an_adapted_model_gives_its_float32_logits_and_still_detaches(string method)
    {
        string dir = TestModels.TempDirectory();
        string modelPath = Path.Combine(dir, "model.safetensors"), adapterPath = Path.Combine(dir, "adapter.safetensors");
        using (var model = TestModels.Create(layers: 2, blockSize: 21))
        {
            ModelFile.Save(modelPath, model, new ModelInfo(model.Config, 2));
            string fingerprint = AdapterFile.Fingerprint(model);
            random.manual_seed(3);
            var settings = TestSettings.For(method, prefixSize: 2);
            using var adapter = TuningMethods.Create(method, model, settings);
            using (no_grad())
            {
                foreach (var parameter in adapter.Parameters.Where(p => p.abs().sum().item<float>() == 0))
                {
                    parameter.copy_(randn(parameter.shape) * 0.1); // LoRA's B starts at zero: give it an update to merge
                }
            }
            AdapterFile.Save(adapterPath, adapter, new AdapterInfo(method, settings, fingerprint, 2, "plus1", 0));
        }
        using var tokens = TestModels.RandomTokens(3, 19); // a prefix-kv of 2 leaves 19 of the 21 positions
        using var single = AdaptedModel.Load(modelPath, adapterPath);
        using var wide = AdaptedModel.Load(modelPath, adapterPath);
        using var plain = AdaptedModel.Load(modelPath, null);
        wide.ToFloat64();
        using var noGrad = no_grad();
        var expected = single.Model.Forward(tokens);
        var actual = wide.Model.Forward(tokens);
        Assert.Equal(ScalarType.Float64, actual.dtype);
        Assert.True(actual.to_type(ScalarType.Float32).allclose(expected, rtol: 1e-4, atol: 1e-5));
        Assert.False(plain.Model.Forward(tokens).allclose(expected, rtol: 1e-4, atol: 1e-5)); // the adapter does something
        wide.Method!.Dispose();
        Assert.All(wide.Model.Module.parameters(), p => Assert.True(p.requires_grad));
    }

    [Theory]
    [InlineData("lora", 2)]
    [InlineData("prefix-kv", 1)]
    [InlineData("soft-prompt", 1)]
    public void A_peft_folder_on_a_padded_digit_model_gets_the_padding_the_method_trains_with(string method, int padding)
    {
        string dir = TestModels.TempDirectory();
        string modelPath = Path.Combine(dir, "model.safetensors"), folder = Path.Combine(dir, "peft");
        using (var model = TestModels.Create(layers: 1, blockSize: 21))
        {
            ModelFile.Save(modelPath, model, new ModelInfo(model.Config, 2));
            using var adapter = TuningMethods.Create(method, model, TestSettings.For(method, prefixSize: 1));
            Assert.Equal(padding, adapter.InputPadding(2));
            PeftFormat.Save(folder, adapter, model, "model.safetensors");
        }
        using var loaded = AdaptedModel.Load(modelPath, folder);
        Assert.Equal(padding, loaded.PrefixSize);
    }
}
