using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Llama;

/// <summary>Folders the Llama loader must refuse with one line naming the problem, and what it must keep.</summary>
public class LlamaLoaderTests
{
    private static string Broken(Action<JsonObject> edit, string options = "")
    {
        string dir = PythonLlama.Copy(PythonLlama.Checkpoint(options));
        string path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
        return dir;
    }

    private static string Refusal(string dir)
    {
        var e = Assert.Throws<PrefixLabException>(() => HuggingFaceLlama.Load(dir).Dispose());
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [SkippableFact]
    public void An_unknown_rope_scaling_type_is_refused_by_name()
    {
        string dir = Broken(c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 });
        Assert.Contains("rope_scaling type 'yarn' is not supported", Refusal(dir));
        // Hugging Face's older spelling, "type", is read too.
        dir = Broken(c => c["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 });
        Assert.Contains("rope_scaling type 'dynamic' is not supported", Refusal(dir));
    }

    [SkippableFact]
    public void A_hidden_act_other_than_silu_is_refused()
    {
        Assert.Contains("hidden_act 'gelu'", Refusal(Broken(c => c["hidden_act"] = "gelu")));
    }

    [SkippableFact]
    public void A_tensor_whose_shape_config_json_contradicts_is_refused_before_loading()
    {
        string message = Refusal(Broken(c => c["intermediate_size"] = 100));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight' has shape [96, 64], config.json implies [100, 64]", message);
    }

    [SkippableFact]
    public void An_unknown_model_type_is_refused_and_is_not_a_llama_checkpoint()
    {
        string dir = Broken(c => c["model_type"] = "falcon");
        Assert.False(HuggingFaceLlama.IsCheckpoint(dir));
        Assert.True(HuggingFaceLlama.IsCheckpoint(PythonLlama.Checkpoint()));
        Assert.Contains("describes a 'falcon' model", Refusal(dir));
    }

    [SkippableFact]
    public void Missing_and_corrupt_weights_are_refused()
    {
        string dir = PythonLlama.Copy(PythonLlama.Checkpoint());
        string weights = Path.Combine(dir, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        Assert.Contains("is not a valid safetensors file", Refusal(dir));
        File.Delete(weights);
        Assert.Contains("has no model.safetensors", Refusal(dir));
        Assert.Contains("has no config.json", Refusal(Directory.CreateDirectory(Path.Combine(dir, "empty")).FullName));
    }

    [SkippableFact]
    public void A_missing_lm_head_of_an_untied_model_is_refused()
    {
        string message = Refusal(Broken(c => c["tie_word_embeddings"] = false, "--tied --seed 1"));
        Assert.Contains("lacks 1 tensors of the model, e.g. 'lm_head.weight'", message);
    }

    [SkippableFact]
    public void Mistral_refuses_a_sequence_longer_than_its_window_instead_of_computing_it()
    {
        using var model = HuggingFaceLlama.Load(PythonLlama.Checkpoint("--model-type mistral --sliding-window 24 --seed 8"));
        Assert.Equal(24, model.Config.SlidingWindow);
        using var noGrad = no_grad();
        using var within = model.Forward(zeros(1, 24, ScalarType.Int64));
        var e = Assert.Throws<PrefixLabException>(() => model.Forward(zeros(1, 25, ScalarType.Int64)));
        Assert.Contains("exceeds the model's sliding window of 24", e.Message);
        // Cached generation crosses it one token at a time, and is refused at the crossing.
        using var prompt = zeros(1, 20, ScalarType.Int64);
        Assert.Throws<PrefixLabException>(() => Generation.Greedy(model, prompt, 6));
    }

    [SkippableFact]
    public void The_state_dict_is_hugging_faces_key_layout()
    {
        using var model = HuggingFaceLlama.Load(PythonLlama.Checkpoint("--model-type qwen2 --seed 5"));
        var expected = model.Config.ParameterShapes();
        var state = model.state_dict();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), state.Keys.Order(StringComparer.Ordinal));
        Assert.All(expected, kv => Assert.Equal(kv.Value, state[kv.Key].shape));
        Assert.Contains("model.layers.1.self_attn.k_proj.bias", state.Keys);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", state.Keys);
    }
}
