using System.Text.Json;
using PrefixLab.Interop;
using PrefixLab.Model;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Interop;

/// <summary>Hugging Face GPT-2 checkpoints against the independent PyTorch implementation.</summary>
public class HuggingFaceGpt2Tests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>Largest absolute difference between PrefixLab's logits and the reference's.</summary>
    internal static double MaxError(Gpt model, long[] ids, float[] reference)
    {
        using var noGrad = no_grad();
        using var input = tensor(ids, [1, ids.Length]);
        using var logits = model.Forward(input).flatten();
        Assert.Equal(reference.Length, logits.shape[0]);
        using var expected = tensor(reference);
        return (logits - expected).abs().max().item<float>();
    }

    internal static long[] Ids(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetInt64())];

    internal static float[] Floats(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetSingle())];

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Logits_match_the_reference_within_1e_4(bool sharded)
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = sharded ? PythonGpt2.ShardedCheckpoint : PythonGpt2.SmallCheckpoint;
        var (model, info) = HuggingFaceGpt2.Load(dir);
        using var _ = model;
        Assert.True(model.Config.TiedHead);
        Assert.Equal(0, info.PrefixSize);
        double worst = 0;
        foreach (var item in PythonGpt2.Reference(dir).GetProperty("logits").EnumerateArray())
        {
            worst = Math.Max(worst, MaxError(model, Ids(item.GetProperty("ids")), Floats(item.GetProperty("logits"))));
        }
        output.WriteLine($"largest logit difference from the float64 reference: {worst:E2}");
        Assert.InRange(worst, 0, 1e-4);
    }

    [SkippableFact]
    public void Cached_greedy_continuations_match_exactly()
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var (model, _) = HuggingFaceGpt2.Load(dir);
        using var _ = model;
        foreach (var item in PythonGpt2.Reference(dir).GetProperty("greedy").EnumerateArray())
        {
            long[] prompt = Ids(item.GetProperty("ids"));
            long[] expected = Ids(item.GetProperty("new"));
            using var input = tensor(prompt, [1, prompt.Length]);
            using var generated = Generation.Greedy(model, input, expected.Length);
            Assert.Equal(expected, generated.data<long>().ToArray());
        }
    }

    [SkippableFact]
    public void The_tokenizer_matches_the_reference_bpe_and_decodes_back()
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var tokenizer = Gpt2Tokenizer.Load(dir);
        Assert.Equal(300, tokenizer.VocabularySize);
        Assert.Equal(299, tokenizer.EndOfTextId);
        foreach (var item in PythonGpt2.Reference(dir).GetProperty("tokenize").EnumerateArray())
        {
            string text = item.GetProperty("text").GetString()!;
            var ids = tokenizer.Encode(text);
            Assert.Equal(Ids(item.GetProperty("ids")), ids.Select(i => (long)i));
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    [SkippableFact]
    public void A_tied_head_is_the_token_embedding_not_a_parameter_of_its_own()
    {
        PythonGpt2.SkipUnlessAvailable();
        var (model, _) = HuggingFaceGpt2.Load(PythonGpt2.SmallCheckpoint);
        using var _ = model;
        // The tied head adds no parameter of its own: the embedding is the only vocab-sized matrix.
        Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("lm_head", StringComparison.Ordinal));
        Assert.Equal(32, model.Config.Width);
        Assert.Equal(64, model.Config.BlockSize);
    }

    [Fact]
    public void Bad_checkpoints_are_refused_with_one_line()
    {
        string dir = TestModels.TempDirectory();
        var e = Assert.Throws<PrefixLabException>(() => ModelLoader.Load(dir));
        Assert.Contains("no config.json", e.Message);

        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\": \"gpt2\", \"vocab_size\": 10, \"n_positions\": 8, \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2}");
        e = Assert.Throws<PrefixLabException>(() => ModelLoader.Load(dir));
        Assert.Contains("no model.safetensors", e.Message);

        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), new Dictionary<string, Tensor> { ["transformer.wte.weight"] = zeros(10, 4) }, new Dictionary<string, string>());
        e = Assert.Throws<PrefixLabException>(() => ModelLoader.Load(dir));
        Assert.Contains("lacks", e.Message);

        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), new Dictionary<string, Tensor> { ["transformer.wte.weight"] = zeros(11, 4) }, new Dictionary<string, string>());
        e = Assert.Throws<PrefixLabException>(() => ModelLoader.Load(dir));
        Assert.Contains("has shape [11, 4]", e.Message);

        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\": \"gpt2\", \"vocab_size\": 10, \"n_positions\": 8, \"n_embd\": 4, \"n_layer\": 1, \"n_head\": 2, \"activation_function\": \"relu\"}");
        e = Assert.Throws<PrefixLabException>(() => ModelLoader.Load(dir));
        Assert.Contains("activation 'relu'", e.Message);

        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\": ");
        e = Assert.Throws<PrefixLabException>(() => ModelLoader.Load(dir));
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void A_tied_head_config_leaves_untied_configs_and_their_json_as_before()
    {
        var config = new GptConfig(11, 29, 1, 1, 8);
        string json = JsonSerializer.Serialize(config, ModelFile.Json);
        Assert.DoesNotContain("tied", json);
        Assert.False(JsonSerializer.Deserialize<GptConfig>(json, ModelFile.Json)!.TiedHead);
        Assert.Contains("\"tied_head\":true", JsonSerializer.Serialize(config with { TiedHead = true }, ModelFile.Json));

        using var tied = new Gpt(config with { TiedHead = true }, seed: 1);
        using var untied = new Gpt(config, seed: 1);
        Assert.Equal(untied.parameters().Sum(p => p.numel()) - (11 * 8), tied.parameters().Sum(p => p.numel()));
    }
}
