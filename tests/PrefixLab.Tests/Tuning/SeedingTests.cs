using PrefixLab.Model;
using PrefixLab.Tuning;
using TorchSharp;
using static TorchSharp.torch;

namespace PrefixLab.Tests.Tuning;

/// <summary>
/// The methods draw their initial tensors from a generator seeded with the run's seed. The expected
/// tensors here are drawn the way PrefixLab drew them from torch's global generator (manual_seed, then
/// randn, nn.init.kaiming_uniform_ and nn.Linear's own initialisation, in the methods' order), so a run
/// with seed S starts from the same numbers as before, and the global generator is left alone.
/// </summary>
public class SeedingTests
{
    private const ulong Seed = 1234;
    private const int P = 3, Rank = 2, Hidden = 8;
    private const double Std = 0.7;
    private static readonly string[] Targets = ["c_attn", "c_fc", "c_proj"];

    [Theory]
    [InlineData("soft-prompt")]
    [InlineData("prefix")]
    [InlineData("prefix-kv")]
    [InlineData("prefix-kv-projection")]
    [InlineData("lora")]
    public void Initial_tensors_from_the_seed_match_the_global_generator_draws_bit_for_bit(string method)
    {
        using var model = TestModels.Create(layers: 2, heads: 2, width: 16, blockSize: 20);
        string name = method.Replace("-projection", "", StringComparison.Ordinal);
        var settings = TestSettings.For(name, prefixSize: P, rank: Rank, initStd: Std, targets: Targets, projection: method == "prefix-kv-projection" ? Hidden : null);
        var expected = GlobalDraws(method, model);
        using var attached = TuningMethods.Create(name, model, settings, Seed);
        var actual = attached.Parameters.ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].shape, actual[i].shape);
            Assert.True(expected[i].to_type(actual[i].dtype).eq(actual[i]).all().item<bool>(), $"{method}: tensor {i} differs from the global-generator draw");
        }
    }

    [Fact]
    public void Creating_a_method_neither_reseeds_nor_draws_from_the_global_generator()
    {
        using var model = TestModels.Create(layers: 1, width: 16, blockSize: 20);
        random.manual_seed(99);
        using var first = randn(5);
        random.manual_seed(99);
        using (TuningMethods.Create("lora", model, new LoraSettings { Rank = 2 }, Seed))
        using (TuningMethods.Create("prefix", model, new PromptSettings { PrefixSize = 2 }, Seed))
        {
            using var second = randn(5);
            Assert.True(TestModels.Same(first, second));
        }
    }

    /// <summary>The initial tensors as the methods drew them from torch's global generator seeded with <see cref="Seed"/>.</summary>
    private static List<Tensor> GlobalDraws(string method, Gpt model)
    {
        var c = model.Config;
        random.manual_seed((long)Seed);
        using var noGrad = no_grad();
        switch (method)
        {
            case "soft-prompt":
                return [randn(P, c.Width).mul_(Std)];
            case "prefix":
                return [randn(c.Layers, P, c.Width).mul_(Std)];
            case "prefix-kv":
                return [randn([c.Layers, 2, c.Heads, P, c.HeadDim]).mul_(Std)];
            case "prefix-kv-projection":
                var embedding = randn(P, c.Width).mul_(Std);
                var first = nn.Linear(c.Width, Hidden);
                var second = nn.Linear(Hidden, c.Layers * 2 * c.Width);
                return [embedding, first.weight, first.bias!, second.weight, second.bias!];
            default:
                var draws = new List<Tensor>();
                foreach (var (name, module) in model.named_modules())
                {
                    if (module is TorchSharp.Modules.Linear linear && Targets.Any(t => name.Contains(t, StringComparison.Ordinal)))
                    {
                        var a = empty(Rank, linear.weight.shape[1]);
                        nn.init.kaiming_uniform_(a, Math.Sqrt(5));
                        draws.Add(a);
                        draws.Add(zeros(linear.weight.shape[0], Rank));
                    }
                }
                return draws;
        }
    }
}
