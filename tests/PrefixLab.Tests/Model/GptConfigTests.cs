using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Model;

public class GptConfigTests
{
    [Fact]
    public void Older_metadata_without_the_construction_fields_reads_as_mingpts_defaults()
    {
        const string old = """{"vocab_size":11,"block_size":29,"layers":2,"heads":2,"width":32,"dropout":0.1,"attn_layer_norm":true}""";
        var config = JsonSerializer.Deserialize<GptConfig>(old, ModelFile.Json)!;
        Assert.Equal(new GptConfig(11, 29, 2, 2, 32), config);
    }

    [Fact]
    public void Construction_fields_round_trip_through_the_metadata()
    {
        var config = new GptConfig(5, 4, 2, 1, 8, 0, LayerNorms: false, Activation: MlpActivation.Relu, MlpHidden: 3, MlpDepth: 4, AttnScale: 1000);
        string json = JsonSerializer.Serialize(config, ModelFile.Json);
        Assert.Contains("\"activation\":\"Relu\"", json);
        Assert.Equal(config, JsonSerializer.Deserialize<GptConfig>(json, ModelFile.Json));
    }

    [Fact]
    public void A_deep_relu_mlp_without_layer_norms_has_the_layers_it_says()
    {
        using var model = new Gpt(new GptConfig(5, 4, 1, 1, 8, 0, LayerNorms: false, Activation: MlpActivation.Relu, MlpHidden: 3, MlpDepth: 3), seed: 0);
        var names = model.named_parameters().Select(p => p.name).ToList();
        Assert.DoesNotContain(names, n => n.Contains("ln_", StringComparison.Ordinal));
        Assert.Contains("transformer.h.0.mlp.c_mid.1.weight", names);
        Assert.Equal(new long[] { 3, 3 }, model.state_dict()["transformer.h.0.mlp.c_mid.0.weight"].shape);
        using var noGrad = no_grad();
        Assert.Equal(new long[] { 2, 4, 5 }, model.Forward(zeros(2, 4, dtype: ScalarType.Int64)).shape);
    }
}
