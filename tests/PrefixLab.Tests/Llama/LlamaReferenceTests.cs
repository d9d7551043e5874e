using PrefixLab.Interop;
using PrefixLab.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Llama;

/// <summary>Llama-family checkpoints against the independent PyTorch implementation, variant by variant.</summary>
public class LlamaReferenceTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>make_llama.py options of each variant the loader and the model must get right.</summary>
    public static TheoryData<string> Variants => new()
    {
        "",                                                              // llama, untied head, 4 query heads over 2 KV heads
        "--tied --seed 1",                                               // tied head
        "--kv-heads 4 --seed 2",                                         // multi-head attention
        "--rope-scaling linear --rope-factor 2 --seed 3",
        "--rope-scaling llama3 --rope-factor 8 --rope-original 32 --seed 4", // all three llama3 bands within 128 positions
        "--model-type qwen2 --seed 5",                                   // q/k/v biases
        "--bias --seed 6",                                               // Llama's attention_bias: o_proj too
        "--head-dim 24 --seed 7",                                        // head_dim ≠ width / heads
        "--model-type mistral --sliding-window 24 --seed 8",             // within the window
        "--shards 3 --seed 9",
        "--dtype f16 --seed 10",
        "--dtype bf16 --seed 11",
    };

    /// <summary>Largest absolute difference between the model's logits and the float64 reference, over every reference row.</summary>
    internal static double WorstLogitError(ILanguageModel model, string checkpoint)
    {
        using var noGrad = no_grad();
        double worst = 0;
        foreach (var item in PythonLlama.Reference(checkpoint).GetProperty("logits").EnumerateArray())
        {
            long[] ids = PythonLlama.Ids(item.GetProperty("ids"));
            using var scope = NewDisposeScope();
            var logits = model.Forward(tensor(ids, [1, ids.Length])).to_type(ScalarType.Float64).flatten();
            var expected = tensor(PythonLlama.Doubles(item.GetProperty("logits")), ScalarType.Float64);
            Assert.Equal(expected.shape, logits.shape);
            worst = Math.Max(worst, (logits - expected).abs().max().item<double>());
        }
        return worst;
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void Float32_logits_are_within_1e_4_of_the_float64_reference(string options)
    {
        string dir = PythonLlama.Checkpoint(options);
        using var model = HuggingFaceLlama.Load(dir);
        Assert.Equal(ScalarType.Float32, model.ComputeType);
        double worst = WorstLogitError(model, dir);
        output.WriteLine($"[{options}] largest float32 logit difference: {worst:E2}");
        Assert.InRange(worst, 0, 1e-4);
    }

    [SkippableTheory]
    [MemberData(nameof(Variants))]
    public void Greedy_continuations_equal_the_reference_with_and_without_the_cache(string options)
    {
        string dir = PythonLlama.Checkpoint(options);
        using var model = HuggingFaceLlama.Load(dir);
        foreach (var item in PythonLlama.Reference(dir).GetProperty("greedy").EnumerateArray())
        {
            long[] prompt = PythonLlama.Ids(item.GetProperty("ids"));
            long[] expected = PythonLlama.Ids(item.GetProperty("new"));
            using var input = tensor(prompt, [1, prompt.Length]);
            foreach (bool cache in new[] { true, false })
            {
                using var generated = Generation.Greedy(model, input, expected.Length, useCache: cache);
                Assert.Equal(expected, generated.data<long>().ToArray());
            }
        }
    }

    [SkippableFact]
    public void Float64_after_conversion_matches_the_reference_to_rounding()
    {
        string dir = PythonLlama.Checkpoint("--rope-scaling llama3 --rope-factor 8 --rope-original 32 --seed 4");
        using var model = HuggingFaceLlama.Load(dir);
        model.to(ScalarType.Float64);
        double worst = WorstLogitError(model, dir);
        output.WriteLine($"largest float64 logit difference: {worst:E2}");
        Assert.InRange(worst, 0, 1e-10);
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData("--dtype bf16 --seed 11")]
    public void Bfloat16_compute_stays_near_the_reference(string options)
    {
        string dir = PythonLlama.Checkpoint(options);
        using var model = HuggingFaceLlama.Load(dir, dtype: ScalarType.BFloat16);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        double worst = WorstLogitError(model, dir);
        double scale = PythonLlama.Reference(dir).GetProperty("logits").EnumerateArray()
            .SelectMany(item => PythonLlama.Doubles(item.GetProperty("logits"))).Max(Math.Abs);
        output.WriteLine($"[{options}] largest bfloat16 logit difference: {worst:E2} (largest logit {scale:F2})");
        Assert.InRange(worst, 0, 0.05 * scale);
    }
}
