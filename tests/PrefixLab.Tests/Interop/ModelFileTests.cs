using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

public class ModelFileTests
{
    [Fact]
    public void Save_then_load_gives_identical_logits_and_the_metadata()
    {
        string dir = TestModels.TempDirectory();
        string path = Path.Combine(dir, "m.safetensors");
        using var model = TestModels.Create(attnLayerNorm: false);
        var info = new ModelInfo(model.Config, 3, "plus1", 123, 7);
        ModelFile.Save(path, model, info);

        var (loaded, loadedInfo) = ModelFile.Load(path);
        Assert.Equal(info, loadedInfo);
        var tokens = TestModels.RandomTokens(3, 15);
        using var noGrad = no_grad();
        Assert.True(TestModels.Same(model.Forward(tokens), loaded.Forward(tokens)));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void An_independent_safetensors_reader_opens_model_files()
    {
        string path = Path.Combine(TestModels.TempDirectory(), "m.safetensors");
        using var model = TestModels.Create();
        ModelFile.Save(path, model, new ModelInfo(model.Config, 1));
        var tensors = TorchSharp.PyBridge.Safetensors.LoadStateDict(path);
        var state = model.state_dict();
        Assert.Equal(state.Keys.Order(), tensors.Keys.Order());
        Assert.All(state, kv => Assert.True(TestModels.Same(kv.Value, tensors[kv.Key])));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.999)]
    [InlineData(0.0001)]
    public void Truncated_files_are_refused_with_a_clear_error(double keep)
    {
        string path = Path.Combine(TestModels.TempDirectory(), "m.safetensors");
        using var model = TestModels.Create();
        ModelFile.Save(path, model, new ModelInfo(model.Config, 1));
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(int)(bytes.Length * keep)]);
        var error = Assert.Throws<PrefixLabException>(() => ModelFile.Load(path));
        Assert.Contains("not a valid safetensors file", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Garbage_and_missing_files_are_refused_with_a_clear_error()
    {
        string dir = TestModels.TempDirectory();
        string garbage = Path.Combine(dir, "g.safetensors");
        File.WriteAllText(garbage, "this is not a model file at all, just some text");
        Assert.Contains("not a valid safetensors file", Assert.Throws<PrefixLabException>(() => ModelFile.Load(garbage)).Message);
        Assert.Contains("file not found", Assert.Throws<PrefixLabException>(() => ModelFile.Load(Path.Combine(dir, "none.safetensors"))).Message);
    }
}
