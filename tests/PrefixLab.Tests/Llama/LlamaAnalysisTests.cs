using System.Text.Json;
using PrefixLab.Analysis;
using PrefixLab.Interop;
using PrefixLab.Tests.Cli;
using PrefixLab.Tuning;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Llama;

/// <summary>
/// verify, bias, attention and completions on a small random Llama made by the independent PyTorch
/// reference (2 layers, 4 query heads over 2 key/value heads), with adapters trained a few steps by
/// <c>tune</c>, run as a user runs them.
/// </summary>
public class LlamaAnalysisTests(ITestOutputHelper output)
{
    private const int Layers = 2;
    private const int Heads = 4;

    [SkippableTheory]
    [InlineData("prefix")]
    [InlineData("prefix-kv")]
    [InlineData("soft-prompt")]
    public void Verify_double_holds_C2_and_C3_at_every_layer_and_query_head_with_a_trained_prefix(string method)
    {
        string dir = PythonLlama.Checkpoint();
        string adapter = Tune(dir, method, 3);
        var heads = Verify(dir, adapter, "--double");
        // One check per query head: the heads that share a key/value head are separate heads.
        Assert.Equal(Layers * Heads, heads.Count);
        Assert.Equal(Layers * Heads, heads.Select(h => (h.GetProperty("layer").GetInt32(), h.GetProperty("head").GetInt32())).Distinct().Count());
        foreach (var h in heads)
        {
            string where = $"{method} layer {h.GetProperty("layer")} head {h.GetProperty("head")}";
            Assert.True(h.GetProperty("biased_mix_error").GetDouble() < 1e-12, $"{where}: (b) {h.GetProperty("biased_mix_error")}");
            Assert.True(h.GetProperty("own_content_error").GetDouble() < 1e-12, $"{where}: (a) own {h.GetProperty("own_content_error")}");
            Assert.True(h.GetProperty("alpha_max").GetDouble() > 1e-3, $"{where}: the prefix is not attended");
            if (h.GetProperty("layer").GetInt32() == 0)
            {
                Assert.True(h.GetProperty("content_attention_error").GetDouble() < 1e-12, $"{where}: (a) {h.GetProperty("content_attention_error")}");
                Assert.True(h.GetProperty("content_output_error").GetDouble() < 1e-12, $"{where}: t̂ {h.GetProperty("content_output_error")}");
            }
        }
        // Query heads 0 and 1 read the same keys and values but attend with their own queries.
        var first = heads.Where(h => h.GetProperty("layer").GetInt32() == 0).Select(h => h.GetProperty("alpha_max").GetDouble()).ToList();
        Assert.NotEqual(first[0], first[1]);

        var (code, stdout, stderr) = CliTests.Run("verify", "--model", dir, "--adapter", adapter, "--samples", "4", "--double");
        Assert.True(code == 0, stderr);
        output.WriteLine(stdout.Trim().Split('\n')[^1]);
        Assert.Contains("C2 and C3 hold within 1E-12", stdout);
    }

    [SkippableFact]
    public void Verify_of_a_fully_fine_tuned_Llama_folder_and_of_LoRA_shows_the_attention_shift_only()
    {
        string dir = PythonLlama.Checkpoint();
        foreach (string adapter in new[] { Tune(dir, "full", 3), Tune(dir, "lora", 3) })
        {
            var heads = Verify(dir, adapter);
            Assert.Equal(Layers * Heads, heads.Count);
            Assert.All(heads, h => Assert.Equal(JsonValueKind.Null, h.GetProperty("biased_mix_error").ValueKind));
            Assert.Contains(heads, h => h.GetProperty("shift").GetProperty("tv_max").GetDouble() > 1e-3);
            var (code, stdout, stderr) = CliTests.Run("verify", "--model", dir, "--adapter", adapter, "--task", "ascending", "--samples", "4");
            Assert.True(code == 0, stderr);
            Assert.Contains("no prefix: the content attention moved by up to", stdout);
        }
    }

    [SkippableFact]
    public void Bias_gives_each_query_head_its_own_attention_over_the_shared_key_value_heads_biases()
    {
        string dir = PythonLlama.Checkpoint();
        string adapter = Tune(dir, "prefix-kv", 3);
        var (code, stdout, stderr) = CliTests.Run("bias", "--model", dir, "--adapter", adapter, "--samples", "4", "--json");
        Assert.True(code == 0, stderr);
        var heads = JsonDocument.Parse(stdout).RootElement.GetProperty("heads").EnumerateArray().ToList();
        Assert.Equal(Layers * Heads, heads.Count);
        string Vectors(JsonElement h) => h.GetProperty("vectors").GetRawText();
        for (int layer = 0; layer < Layers; layer++)
        {
            var at = heads.Where(h => h.GetProperty("layer").GetInt32() == layer).ToList();
            // Query heads 2k and 2k + 1 share key/value head k: the same bias vectors, their own attention.
            Assert.Equal(Vectors(at[0]), Vectors(at[1]));
            Assert.Equal(Vectors(at[2]), Vectors(at[3]));
            Assert.NotEqual(Vectors(at[0]), Vectors(at[2]));
            Assert.NotEqual(at[0].GetProperty("prefix_mass").GetDouble(), at[1].GetProperty("prefix_mass").GetDouble());
            Assert.Equal(3, at[0].GetProperty("vectors").GetArrayLength());
        }
    }

    [SkippableFact]
    public void Attention_labels_a_Llama_folders_tokens_with_its_tokenizer_json_strings()
    {
        string dir = PythonLlama.Copy(PythonLlama.Checkpoint());
        // A SentencePiece-style vocabulary: ▁ marks a word start, which the label shows as a space.
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """
            {"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null,
             "decoder": {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false,
               "vocab": {"x": 0, "▁y": 1, "z": 2, "▁yz": 3}, "merges": ["▁y z"]}}
            """);
        string work = TestModels.TempDirectory();
        string csv = Path.Combine(work, "maps.csv");
        var (code, stdout, stderr) = CliTests.Run("attention", "--model", dir, "--input", "3 0 2", "--out", Path.Combine(work, "maps.png"), "--csv", csv, "--layer", "1", "--head", "3");
        Assert.True(code == 0, stderr);
        Assert.Contains("1 heatmap(s)", stdout);
        string text = File.ReadAllText(csv);
        Assert.Contains(" yz", text);
        Assert.Contains("x", text);
        Assert.DoesNotContain("▁", text);
    }

    [SkippableFact]
    public void Completions_virtual_tokens_continue_as_their_adapters_do_on_a_Llama()
    {
        string dir = PythonLlama.Checkpoint();
        string[] adapters = [Tune(dir, "prefix", 1), Tune(dir, "soft-prompt", 1)];
        int[] prompt = [5, 17, 42];
        var (model, _) = ModelLoader.Load(dir);
        using var _ = model;
        var virtualTokens = CompletionCount.LoadAdapters(model, adapters);
        Assert.Equal([Layers, 1], virtualTokens.Select(v => v.Vectors.GetLength(0)));
        var batched = CompletionCount.Virtual(model, virtualTokens, prompt, 4, batch: 2);
        foreach (var (path, i) in adapters.Select((p, i) => (p, i)))
        {
            var (method, _) = AdapterFile.Load(path, model);
            using (method)
            using (no_grad())
            {
                using var rows = tensor((long[])[0, .. prompt.Select(t => (long)t)], [1, 1 + prompt.Length]);
                using var generated = PrefixLab.Model.Generation.Greedy(model, rows, 4);
                Assert.Equal(generated.data<long>().ToArray().Select(t => (int)t), batched[i]);
            }
        }
        var (code, stdout, stderr) = CliTests.Run(["completions", "--model", dir, "--adapters", string.Join(',', adapters), "--input", "5 17 42", "--length", "4"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("distinct from all 300 tokens", stdout);
        Assert.Contains("distinct from 2 adapters", stdout);
    }

    /// <summary>An adapter (or, for full fine-tuning, a Hugging Face folder) tuned 5 steps on ascending lists by the command line.</summary>
    private static string Tune(string dir, string method, int prefixSize)
    {
        string work = TestModels.TempDirectory();
        bool full = method == "full";
        string saved = Path.Combine(work, full ? "tuned" : $"{method}.safetensors");
        string[] size = method is "prefix" or "prefix-kv" or "soft-prompt" ? ["--prefix-size", $"{prefixSize}"] : [];
        string[] format = full ? ["--format", "hf"] : [];
        var (code, _, stderr) = CliTests.Run(["tune", "--model", dir, "--method", method, .. size, .. format, "--task", "ascending", "--iters", "5", "--batch", "8", "--no-tensorboard", "--out", saved]);
        Assert.True(code == 0, stderr);
        return saved;
    }

    private static List<JsonElement> Verify(string dir, string adapter, params string[] extra)
    {
        var (code, stdout, stderr) = CliTests.Run(["verify", "--model", dir, "--adapter", adapter, "--task", "ascending", "--samples", "4", "--json", .. extra]);
        Assert.True(code == 0, stderr);
        return [.. JsonDocument.Parse(stdout).RootElement.GetProperty("heads").EnumerateArray()];
    }
}
