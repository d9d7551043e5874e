using System.Text.Json;
using System.Text.Json.Nodes;
using PrefixLab.Interop;
using PrefixLab.Model;
using PrefixLab.Tuning;
using Xunit.Abstractions;
using static TorchSharp.torch;

using PrefixLab.Tests.Tuning;

namespace PrefixLab.Tests.Interop;

/// <summary>
/// PEFT-layout adapters, both ways, against the independent PyTorch implementation of Hugging Face's
/// semantics (tokens after past_key_values, prompt tuning's virtual tokens): logits within 1e-4 and
/// greedy continuations token for token.
/// </summary>
public class PeftFormatTests(ITestOutputHelper output)
{
    private const int NewTokens = 8;

    [SkippableTheory]
    [InlineData("peft_lora", "lora")]
    [InlineData("peft_lora_pattern", "lora")]
    [InlineData("peft_prefix", "prefix-kv")]
    [InlineData("peft_prompt", "soft-prompt")]
    [InlineData("peft_ia3", "ia3")]
    public void Adapters_written_by_the_reference_load_and_match_its_logits_and_continuations(string adapter, string method)
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var (model, _) = HuggingFaceGpt2.Load(dir);
        using var _ = model;
        var (attached, info) = AdapterFile.Load(Path.Combine(dir, adapter), model);
        using var __ = attached;
        Assert.Equal(method, attached.Name);
        double worst = 0;
        foreach (var item in PythonGpt2.Reference(dir).GetProperty(adapter).EnumerateArray())
        {
            var ids = HuggingFaceGpt2Tests.Ids(item.GetProperty("ids"));
            var (logits, next) = Run(model, info.PrefixSize, ids, NewTokens);
            worst = Math.Max(worst, MaxDifference(HuggingFaceGpt2Tests.Floats(item.GetProperty("logits")), logits));
            Assert.True(item.GetProperty("margin").GetDouble() > 2e-4, "the reference's greedy choices must be clear of the logit tolerance");
            Assert.Equal(HuggingFaceGpt2Tests.Ids(item.GetProperty("new")), next);
        }
        output.WriteLine($"{adapter}: largest logit difference {worst:E2}");
        Assert.InRange(worst, 0, 1e-4);
    }

    public static TheoryData<string, string> PrefixLabMethods => new()
    {
        { "lora", "c_attn,mlp.c_proj" },
        { "lora", "transformer.h.1.mlp.c_fc" },
        { "lora-pattern", "c_attn,c_fc" },
        { "prefix-kv", "" },
        { "soft-prompt", "" },
        { "hard-prompt", "" },
        { "ia3", "" },
    };

    [SkippableTheory]
    [MemberData(nameof(PrefixLabMethods))]
    public void Adapters_written_by_PrefixLab_are_read_by_the_reference_and_back(string method, string targets)
    {
        PythonGpt2.SkipUnlessAvailable();
        string dir = PythonGpt2.SmallCheckpoint;
        var (model, _) = HuggingFaceGpt2.Load(dir);
        using var _ = model;
        var settings = TestSettings.For(method.Replace("-pattern", "", StringComparison.Ordinal), prefixSize: 3, rank: 3, alpha: 6, targets: targets.Split(','), tokens: [17, 4, 250]);
        if (method == "lora-pattern")
        {
            settings = (LoraSettings)settings with { RankPattern = new Dictionary<string, int> { ["h\\.1\\.mlp\\.c_fc"] = 2 }, AlphaPattern = new Dictionary<string, double> { ["c_attn"] = 1.5 } };
        }
        string folder = Path.Combine(TestModels.TempDirectory(), "adapter");
        long[] ids = [5, 17, 42, 7, 99];
        float[] mine;
        long[] myContinuation;
        int padding;
        using (var adapter = TuningMethods.Create(method.Replace("-pattern", "", StringComparison.Ordinal), model, settings))
        {
            using (no_grad())
            {
                random.manual_seed(11);
                foreach (var p in adapter.Parameters)
                {
                    // LoRA's B starts at zero and IA³'s scales at one: make the update visible.
                    p.copy_(method == "ia3" ? 1 + (randn(p.shape) * 0.3) : randn(p.shape) * (method == "soft-prompt" ? 0.5 : 0.4));
                }
            }
            PeftFormat.Save(folder, adapter, model, "models/small-gpt2");
            padding = adapter.InputPadding(0);
            (mine, myContinuation) = Run(model, padding, ids, NewTokens);
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, PeftFormat.ConfigFile)))!;
        Assert.Equal("models/small-gpt2", config["base_model_name_or_path"]!.GetValue<string>());

        var reference = PythonGpt2.Continue(dir, ids, folder, NewTokens);
        double difference = MaxDifference(reference.Logits, mine);
        output.WriteLine($"{method}: largest logit difference from the reference {difference:E2}, smallest greedy margin {reference.Margin:E2}");
        Assert.InRange(difference, 0, 1e-4);
        Assert.True(reference.Margin > 2e-4, "the reference's greedy choices must be clear of the logit tolerance");
        Assert.Equal(reference.New, myContinuation);

        var (loaded, info) = AdapterFile.Load(folder, model);
        using (loaded)
        {
            Assert.Equal(padding, info.PrefixSize);
            var (back, continuation) = Run(model, info.PrefixSize, ids, NewTokens);
            // A prompt goes through PEFT's virtual tokens (less, then plus, the position embedding): float32 rounding only.
            Assert.InRange(MaxDifference(mine, back), 0, method.EndsWith("prompt", StringComparison.Ordinal) ? 1e-5 : 1e-6);
            Assert.Equal(myContinuation, continuation);
        }
    }

    [SkippableFact]
    public void Bad_or_unsupported_adapters_are_refused_with_one_line_naming_what()
    {
        PythonGpt2.SkipUnlessAvailable();
        var (model, _) = HuggingFaceGpt2.Load(PythonGpt2.SmallCheckpoint);
        using var _ = model;
        string dir = TestModels.TempDirectory();
        string Refusal(string config, Dictionary<string, Tensor> tensors)
        {
            File.WriteAllText(Path.Combine(dir, PeftFormat.ConfigFile), config);
            SafeTensors.Save(Path.Combine(dir, PeftFormat.WeightsFile), tensors, new Dictionary<string, string>());
            string message = Assert.Throws<PrefixLabException>(() => AdapterFile.Load(dir, model)).Message;
            Assert.DoesNotContain('\n', message);
            return message;
        }
        var lora = new Dictionary<string, Tensor>
        {
            ["base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight"] = zeros(2, 32),
            ["base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight"] = zeros(128, 2),
        };
        const string Lora = "\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 2";

        Assert.Contains("'LOHA' is not supported", Refusal("{\"peft_type\": \"LOHA\"}", new() { ["x"] = zeros(1) }));
        Assert.Contains("PrefixLab's IA³ scales each block's attn.c_attn output and mlp.c_proj input", Refusal(
            "{\"peft_type\": \"IA3\", \"target_modules\": [\"c_proj\"]}", new() { ["base_model.model.transformer.h.0.attn.c_proj.ia3_l"] = ones(32, 1) }));
        Assert.Contains("has shape [1, 32], expected [96, 1] (the output of a target)", Refusal(
            "{\"peft_type\": \"IA3\", \"target_modules\": [\"c_attn\"], \"feedforward_modules\": [\"c_attn\"]}", new() { ["base_model.model.transformer.h.0.attn.c_attn.ia3_l"] = ones(1, 32) }));
        Assert.Contains("has shape [2, 64], expected [2, 128]", Refusal(
            "{\"peft_type\": \"PREFIX_TUNING\", \"num_virtual_tokens\": 2, \"token_dim\": 32, \"num_layers\": 2, \"num_attention_heads\": 2}",
            new() { ["prompt_embeddings"] = zeros(2, 64) }));
        Assert.Contains("has shape [3, 16], expected [3, 32]", Refusal(
            "{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 3, \"token_dim\": 32}", new() { ["prompt_embeddings"] = zeros(3, 16) }));
        foreach (var (option, value) in new[] { ("use_dora", "true"), ("lora_bias", "true"), ("modules_to_save", "[\"lm_head\"]"), ("trainable_token_indices", "[1, 2]"), ("use_rslora", "true") })
        {
            Assert.Contains($"{option} is set", Refusal($"{{{Lora}, \"{option}\": {value}}}", lora));
        }
        Assert.Contains("bias is 'lora_only'", Refusal($"{{{Lora}, \"bias\": \"lora_only\"}}", lora));
        // Options switched off are fine; tensors of an unsupported feature are named even without the option.
        Assert.Contains("use_dora", Refusal($"{{{Lora}, \"use_dora\": false, \"modules_to_save\": null}}",
            new(lora) { ["base_model.model.transformer.h.0.mlp.c_fc.lora_magnitude_vector"] = zeros(128) }));
        Assert.Contains("modules_to_save", Refusal($"{{{Lora}}}", new(lora) { ["base_model.model.lm_head.weight"] = zeros(300, 32) }));
        Assert.Contains("'transformer.h.0.ln_1', which is not a Linear layer", Refusal($"{{{Lora}}}",
            new() { ["base_model.model.transformer.h.0.ln_1.lora_A.weight"] = zeros(2, 32), ["base_model.model.transformer.h.0.ln_1.lora_B.weight"] = zeros(32, 2) }));
        Assert.Contains("expected [3, 32]", Refusal($"{{{Lora}, \"rank_pattern\": {{\"c_fc\": 3}}}}", lora));

        using var prefix = TuningMethods.Create("prefix", model, new PromptSettings());
        Assert.Contains("no PEFT counterpart", Assert.Throws<PrefixLabException>(() => PeftFormat.Save(Path.Combine(dir, "out"), prefix, model, "m")).Message);
    }

    [SkippableFact]
    public void The_command_line_records_the_base_model_as_typed()
    {
        PythonGpt2.SkipUnlessAvailable();
        string checkpoint = PythonGpt2.SmallCheckpoint;
        string work = TestModels.TempDirectory();
        string data = Path.Combine(work, "texts.csv");
        File.WriteAllLines(data, ["text,label,split", .. Enumerable.Range(0, 8).Select(i => $"the cat sat {i},{(i % 2 == 0 ? "joy" : "anger")},{(i < 6 ? "train" : "test")}")]);
        string relative = Path.GetRelativePath(work, checkpoint);
        var (code, _, stderr) = Cli.CliTests.RunIn(work, "tune", "--model", relative, "--data", "texts.csv", "--method", "soft-prompt", "--prefix-size", "2", "--iters", "1", "--batch", "2", "--format", "peft", "--out", "prompt");
        Assert.True(code == 0, stderr);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, "prompt", PeftFormat.ConfigFile)));
        Assert.Equal(relative, config.RootElement.GetProperty("base_model_name_or_path").GetString());
        Assert.Equal("PROMPT_TUNING", config.RootElement.GetProperty("peft_type").GetString());
    }

    /// <summary>
    /// PrefixLab's logits of <paramref name="ids"/> (their rows only, flattened) after
    /// <paramref name="padding"/> padding rows, and its cached greedy continuation.
    /// </summary>
    private static (float[] Logits, long[] New) Run(Gpt model, int padding, long[] ids, int newTokens)
    {
        using var noGrad = no_grad();
        using var input = tensor([.. Enumerable.Repeat(0L, padding), .. ids], [1, padding + ids.Length]);
        using var logits = model.Forward(input)[0, padding..].flatten();
        using var next = Generation.Greedy(model, input, newTokens);
        return (logits.data<float>().ToArray(), next.data<long>().ToArray());
    }

    private static double MaxDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }
}
